'use strict';
const binding = require('./binding');
const { ClosedError, StateError } = require('./errors');
const { toPairs } = require('./config');
const { EventEmitter } = require('node:events');
const { EventPump, loggerOf } = require('./events');

const SKIP = new Set(['logger']);
/** Backoff before re-arming when the eventfd is readable for records nobody polls (events only wanted). */
const REARM_IDLE_MS = 50;
const { EXT_TOMBSTONE, RecordType, typeName } = require('./types');

const OP_POLL = 4;
const OP_SEEK = 5;
const OP_COMMIT = 6;
const OP_LAG = 7;
const OP_CLOSE = 8;
const META = 8;

/** One consumed record. `key` and `value` are Buffers sharing one slab per poll. */
class ConsumerRecord {
  constructor(topicId, type, extType, offset, key, value, timestamp) {
    /** Topic id. */
    this.topicId = topicId;
    /** LNC record type byte (1 raw, 2 json, … 255 extended; 0 a raw-mode chunk). */
    this.type = type;
    /** Extended type, or null. */
    this.extType = extType;
    /** Byte offset (bigint) of the record in the topic log (records of one envelope share it). */
    this.offset = offset;
    /** Key (key-value types) or null. */
    this.key = key;
    /** Application payload (after any key/timestamp prefix). */
    this.value = value;
    /** Timestamp in ns since the epoch (timestamped types) or null. */
    this.timestamp = timestamp;
  }

  /** 'raw', 'json', 'keyValue', …, 'tombstone', or undefined for user-defined types. */
  get typeName() {
    if (this.isTombstone) return 'tombstone';
    return typeName(this.type);
  }

  get isTombstone() {
    return this.type === RecordType.extended && this.extType === EXT_TOMBSTONE;
  }

  /** The value as UTF-8 text. */
  text() {
    return this.value.toString('utf8');
  }

  /** The value parsed as JSON. */
  json() {
    return JSON.parse(this.value.toString('utf8'));
  }
}

const SEEK = { beginning: 0, end: 1 };
const U64_MAX = 0xffffffffffffffffn;

/** A byte offset given as a bigint or a safe non-negative integer number, as a bigint. */
function offsetArg(v, what) {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) throw new RangeError(`${what} out of range: ${v}`);
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${what} must be a non-negative integer below 2^53 (use a bigint above): ${v}`);
    }
    return BigInt(v);
  }
  throw new TypeError(`${what} must be a bigint or a number`);
}

/** `options.timeoutMs` of a call that talks to the server; -1 = request.timeout.ms. */
function callTimeout(options) {
  const t = options && options.timeoutMs;
  if (t === undefined || t === null) return -1;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new RangeError(`timeoutMs must be a non-negative number, got ${t}`);
  return Math.min(Math.floor(t), 0x7fffffff); // Infinity: the longest wait liblnc takes
}

/**
 * The function the addon calls (on this JS thread) for each load/save liblnc asks of a user
 * offset store; `done(req, rc, offset)` answers, now or when the store's Promise settles.
 * Errors thrown by the store go to `onError` and fail the call (liblnc then fails the consumer
 * call that needed the store, which rethrows the store's error).
 */
function storeBridge(store, onError) {
  return (kind, topicId, offset, req) => {
    const answer = (rc, off) => {
      try {
        binding.storeDone(req, rc, off);
      } catch (e) {
        onError(e);
      }
    };
    const fail = (e) => {
      onError(e instanceof Error ? e : new Error(`offset store failed: ${String(e)}`));
      answer(-1);
    };
    const finish = (v) => {
      if (kind === 1 || v === null || v === undefined) {
        answer(0);
        return;
      }
      let off;
      try {
        off = offsetArg(v, 'offset returned by offsetStore.load');
      } catch (e) {
        fail(e);
        return;
      }
      answer(1, off);
    };
    let out;
    try {
      out = kind === 0 ? store.load(topicId) : store.save(topicId, offset);
    } catch (e) {
      fail(e);
      return;
    }
    if (out !== null && typeof out === 'object' && typeof out.then === 'function') out.then(finish, fail);
    else finish(out);
  };
}

/**
 * A LANCE consumer of one topic (config `topic` or `topic.id`). liblnc's fetch thread keeps
 * fetches in flight and buffers records; `poll()` and async iteration take them in batches.
 *
 * The constructor returns at once; the topic lookup and offset load run in the background
 * (`await consumer.ready`, or just use it: every method waits for it).
 */
class Consumer extends EventEmitter {
  constructor(config = {}, options = {}) {
    super();
    this._h = null;
    this._rearmTimer = null;
    this._pump = new EventPump(this, () => this._ready.then(() => this._pumpEvents(), () => {}));
    this._closing = false;
    this._closePromise = null;
    this._waiters = new Set();
    this._topicId = 0;
    this._storeError = null;
    const store = options && options.offsetStore;
    let storeFn;
    if (store !== undefined && store !== null) {
      if (typeof store.load !== 'function' || typeof store.save !== 'function') {
        throw new TypeError('offsetStore must have load(topicId) and save(topicId, offset) methods');
      }
      storeFn = storeBridge(store, (e) => {
        if (this._storeError === null) this._storeError = e;
      });
    }
    this._ready = binding.consumerNew(toPairs(config, SKIP), storeFn, callTimeout(options), loggerOf(config)).then(
      (h) => {
        this._h = h;
        this._topicId = binding.consumerTopicId(h);
        binding.watchStart(h, () => this._onReadable());
        return this;
      },
      (e) => {
        throw this._takeStoreError(e);
      },
    );
    this._ready.catch(() => {});
  }

  /** Creates a consumer and waits until it is ready. */
  static async create(config, options) {
    return new Consumer(config, options).ready;
  }

  /** Resolves with this consumer once the topic is resolved and fetching has started. */
  get ready() {
    return this._ready;
  }

  /** The topic id (0 until ready). */
  get topicId() {
    return this._topicId;
  }

  get closed() {
    return this._closing;
  }

  /**
   * Waits up to `timeoutMs` (default 1000; < 0 = no limit) for records and returns the next
   * batch (up to max.poll.records; [] on timeout or after close). Rejects with the error the
   * consumer met (OffsetOutOfRangeError, CorruptRecordError, UnknownTopicError, TransportError…)
   * after every record that precedes it has been returned.
   */
  async poll(timeoutMs = 1000) {
    await this._ready;
    const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      if (this._closing) return [];
      const batch = await this._call(OP_POLL, 0);
      if (batch !== null) return this._convert(batch);
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this._waitReadable(left);
    }
  }

  /** Records one by one until close() (break out to stop; the consumer stays open). */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this._closing) return;
      let batch;
      try {
        batch = await this.poll(-1);
      } catch (e) {
        if (this._closing && e instanceof ClosedError) return;
        throw e;
      }
      for (const r of batch) yield r;
    }
  }

  /**
   * Moves the position: 'beginning', 'end', or a byte offset (a record boundary, e.g. a record's
   * `offset`). Records queued for the old position are dropped. Resolves with the new position.
   */
  async seek(position, options) {
    const timeoutMs = callTimeout(options);
    await this._ready;
    if (typeof position === 'string') {
      const whence = SEEK[position];
      if (whence === undefined) throw new RangeError(`seek: expected 'beginning', 'end' or an offset, got '${position}'`);
      return this._call(OP_SEEK, whence, 0n, timeoutMs);
    }
    return this._call(OP_SEEK, 2, offsetArg(position, 'seek offset'), timeoutMs);
  }

  /** Commits the position to the offset store; resolves with the committed offset. */
  async commit(options) {
    const timeoutMs = callTimeout(options);
    await this._ready;
    return this._call(OP_COMMIT, 0, 0n, timeoutMs);
  }

  /** Bytes between the position and the topic's end. */
  async lag(options) {
    const timeoutMs = callTimeout(options);
    await this._ready;
    return this._call(OP_LAG, 0, 0n, timeoutMs);
  }

  /** The offset just past the last record handed out (synchronous; 0n before ready). */
  position() {
    return this._h ? binding.consumerPosition(this._h) : 0n;
  }

  /**
   * The statistics document (schema version 1, docs/statistics.md) parsed: records, bytes,
   * fetches, position, lag, fetch latency, reassembly carry, the connection. Works after close().
   */
  statistics() {
    this._checkReady('statistics');
    return JSON.parse(binding.statistics(this._h));
  }

  /**
   * liblnc's consumer counters: records, bytes, errors, fetches, emptyFetches, fetchBytes,
   * catchingUp, position (bigint), endOffset/lag (bigint, null until known), endOffsetAgeMs,
   * queuedEvents, queuedBytes, reassemblyCarryBytes, fetchLatency{P50,P99,Max}Us, reconnects.
   */
  metrics() {
    this._checkReady('metrics');
    return binding.consumerMetrics(this._h);
  }

  /** Stops fetching, makes the final auto-commit and releases the fetch thread. Idempotent. */
  close(timeoutMs = -1) {
    if (this._closePromise) return this._closePromise;
    this._closing = true;
    for (const w of this._waiters) w();
    this._closePromise = (async () => {
      try {
        await this._ready;
      } catch {
        return; // never opened
      }
      try {
        await this._call(OP_CLOSE, timeoutMs);
      } finally {
        if (this._rearmTimer) clearTimeout(this._rearmTimer);
        this._pump.emitAll(this._h); // the last ones (disconnected at close)
        binding.watchStop(this._h);
      }
    })();
    return this._closePromise;
  }

  // ---------------------------------------------------------------------------------------

  /** One consumer call on the thread pool; a failure caused by the offset store rethrows the store's error. */
  async _call(op, a, b, timeoutMs) {
    try {
      return await binding.consumerCall(this._h, op, a, b, timeoutMs);
    } catch (e) {
      throw this._takeStoreError(e);
    }
  }

  _takeStoreError(e) {
    const s = this._storeError;
    if (s === null) return e;
    this._storeError = null;
    return s;
  }

  _convert(b) {
    const { n, meta, ts, data } = b;
    const out = new Array(n);
    const topicId = this._topicId;
    for (let i = 0; i < n; i++) {
      const j = i * META;
      const ks = meta[j + 3];
      const ds = meta[j + 5];
      out[i] = new ConsumerRecord(
        topicId,
        meta[j],
        meta[j + 1] < 0 ? null : meta[j + 1],
        ts[2 * i + 1],
        ks < 0 ? null : data.subarray(ks, ks + meta[j + 4]),
        data.subarray(ds, ds + meta[j + 6]),
        meta[j + 7] ? ts[2 * i] : null,
      );
    }
    return out;
  }

  _waitReadable(timeoutMs) {
    return new Promise((resolve) => {
      // close() may have run while the caller's poll was in flight: it woke the waiters it saw,
      // and a waiter added now would never be woken (and would hold no loop reference).
      if (this._closing) {
        resolve();
        return;
      }
      let timer = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        this._waiters.delete(done);
        if (this._waiters.size === 0 && this._h) binding.watchRef(this._h, false);
        resolve();
      };
      this._waiters.add(done);
      if (timeoutMs !== Infinity) {
        timer = setTimeout(done, timeoutMs);
        timer.unref(); // the watcher's reference keeps the loop alive while waiting
      }
      binding.watchRef(this._h, true);
      binding.watchArm(this._h);
    });
  }

  _checkReady(what) {
    if (this._h === null) throw new StateError(`${what}: the consumer is not ready yet (await consumer.ready)`, { code: 'STATE' });
  }

  _onReadable() {
    const woke = this._waiters.size;
    for (const w of [...this._waiters]) w();
    if (this._pump.active) this._pumpEvents(woke);
  }

  /**
   * Emits waiting events and keeps the watcher armed for the next. A wake-up that found no event
   * and woke no poll means records wait for a poll() not yet made: re-arm after a short pause
   * instead of spinning on a readable eventfd.
   */
  _pumpEvents(woke = 1) {
    if (this._h === null || this._rearmTimer) return;
    const n = this._pump.emitAll(this._h);
    if (this._closePromise) return;
    if (n > 0 || woke > 0) {
      binding.watchArm(this._h);
      return;
    }
    this._rearmTimer = setTimeout(() => {
      this._rearmTimer = null;
      if (!this._closePromise) binding.watchArm(this._h);
    }, REARM_IDLE_MS);
    this._rearmTimer.unref();
  }
}

module.exports = { Consumer, ConsumerRecord };
