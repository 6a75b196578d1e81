'use strict';
const { EventEmitter } = require('node:events');
const binding = require('./binding');
const { errorFor, ClosedError, QueueFullError, TimeoutError } = require('./errors');
const { toPairs, normalize } = require('./config');
const { RecordType, EXT_TOMBSTONE, recordType, timestampNs } = require('./types');

const EXTENDED = RecordType.extended;

/** [type, extType, key, value, timestampNs, opaque] of one record: the addon's message layout. */
function messageFields(value, o, opaque) {
  let type = o.type !== undefined ? recordType(o.type) : 0;
  let ext = 0;
  if (o.type === 'tombstone') {
    ext = EXT_TOMBSTONE;
    value = undefined;
  } else if (type === EXTENDED) {
    ext = o.extType ?? 0;
  }
  const key = o.key === undefined || o.key === null ? undefined : o.key;
  return [type, ext, key, value, o.timestamp === undefined ? 0 : timestampNs(o.timestamp), opaque];
}

/** A private copy of exactly the bytes a Buffer / typed array / DataView / ArrayBuffer shows. */
function copyBytes(v) {
  if (ArrayBuffer.isView(v)) return Buffer.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  if (v instanceof ArrayBuffer) return Buffer.from(new Uint8Array(v));
  return v;
}

/**
 * A LANCE producer. Records are batched, sent and acknowledged by liblnc's threads; delivery
 * reports come back to this (JS) thread in bulk, woken by the producer's eventfd.
 *
 * - `produce()` is fire-and-forget: one synchronous call into liblnc. Its outcome is a
 *   `'delivery'` event (every record, `report.error` set on failure); a failure is never
 *   thrown from the report path: the next `flush()`/`close()` rejects instead.
 * - `send()` returns a Promise settled by the record's delivery report.
 * - The process can exit while a producer is open and idle; while records are outstanding the
 *   event loop is kept alive until their reports arrive.
 *
 * `send.block` defaults to false here (liblnc's default is to block the calling thread when
 * `buffer.memory` is full, which would stall the event loop): a full buffer makes `produce()`
 * throw a `QueueFullError` (then wait for `'drain'`), and `send()` wait for room.
 */
class Producer extends EventEmitter {
  constructor(config = {}) {
    super();
    const cfg = normalize(config);
    if (!('send.block' in cfg)) cfg['send.block'] = false;
    this._config = cfg;
    this._h = binding.producerNew(toPairs(cfg));
    this._sendTimeoutMs = cfg['send.timeout.ms'] !== undefined ? Number(cfg['send.timeout.ms']) : 60000;
    this._topicIds = new Map(); // name -> id
    this._topicNames = new Map(); // id -> name
    this._resolving = new Map(); // name -> { promise, queue: [] }
    this._pending = new Map(); // opaque -> { resolve, reject } (send) | { opaque } (produce with opaque)
    this._nextOpaque = 1;
    this._outstanding = 0; // accepted (or queued for a topic lookup) and not yet reported
    this._refd = false;
    this._needDrain = false;
    this._closing = false;
    this._closePromise = null;
    this._admin = null;
    binding.watchStart(this._h, () => this._onReadable());
    binding.watchArm(this._h);
  }

  /** Records accepted and not yet reported. */
  get outstanding() {
    return this._outstanding;
  }

  /** True once close() has been called. */
  get closed() {
    return this._closing;
  }

  /**
   * Fire-and-forget: appends one record. Throws synchronously if the record was not accepted
   * (QueueFullError, MessageTooLargeError, ClosedError, InvalidArgumentError…); otherwise its
   * outcome is one 'delivery' event (with `error` set if it failed).
   */
  produce(topic, value, options) {
    let id = typeof topic === 'number' ? topic : this._topicIds.get(topic);
    if (id === undefined) {
      this._checkOpen();
      if (typeof topic !== 'string') throw new TypeError('topic must be a topic id (number) or name (string)');
      return this._queueForTopic(topic, value, options, options && options.opaque !== undefined ? this._register({ opaque: options.opaque }) : 0);
    }
    if (options === undefined) {
      this._accept(id, 0, 0, undefined, value, 0, 0);
      return;
    }
    const opaque = options.opaque !== undefined ? this._register({ opaque: options.opaque }) : 0;
    try {
      this._produceWith(id, value, options, opaque);
    } catch (e) {
      if (opaque) this._pending.delete(opaque);
      throw e;
    }
  }

  /**
   * Appends one record and resolves with its delivery report once it is acknowledged (written
   * and fsynced by the server), or rejects with the final error. Waits for room when the buffer
   * is full (up to send.timeout.ms).
   */
  send(topic, value, options) {
    return new Promise((resolve, reject) => {
      const opaque = this._register({ resolve, reject });
      const id = typeof topic === 'number' ? topic : this._topicIds.get(topic);
      try {
        if (id === undefined) {
          this._checkOpen();
          if (typeof topic !== 'string') throw new TypeError('topic must be a topic id (number) or name (string)');
          this._queueForTopic(topic, value, options, opaque);
          return;
        }
        this._produceWith(id, value, options || {}, opaque);
      } catch (e) {
        if (e instanceof QueueFullError) {
          this._retryWhenDrained(id, value, options || {}, opaque, Date.now() + this._sendTimeoutMs, e);
          return;
        }
        this._pending.delete(opaque);
        reject(e);
      }
    });
  }

  /**
   * Appends `records` atomically: all are accepted or none (then it rejects at once, e.g. with
   * QueueFullError or MessageTooLargeError, and nothing is sent). Each record is a value or
   * `{ value, key, type, extType, timestamp }`. Resolves with the delivery reports in order once
   * every record is acknowledged; rejects with the first record's error (carrying `.reports`)
   * if any failed.
   */
  async sendBatch(topic, records) {
    if (!Array.isArray(records)) throw new TypeError('sendBatch: records must be an array');
    this._checkOpen();
    const id = typeof topic === 'number' ? topic : await this.topicId(topic);
    if (records.length === 0) return [];
    return new Promise((resolve, reject) => {
      const reports = new Array(records.length);
      let left = records.length;
      let failure = null;
      const ops = [];
      const rows = [];
      try {
        for (let i = 0; i < records.length; i++) {
          const op = this._register({
            onReport: (report) => {
              reports[i] = report;
              if (report.error && failure === null) failure = report.error;
              if (--left > 0) return;
              if (failure === null) {
                resolve(reports);
              } else {
                const e = Object.create(failure);
                e.reports = reports;
                reject(e);
              }
            },
          });
          ops.push(op);
          const r = records[i];
          const plain = r === null || typeof r !== 'object' || ArrayBuffer.isView(r) || r instanceof ArrayBuffer;
          rows.push(plain ? messageFields(r, {}, op) : messageFields(r.value, r, op));
        }
        this._checkOpen();
        binding.producerSendBatch(this._h, id, rows);
      } catch (e) {
        for (const op of ops) this._pending.delete(op);
        if (e instanceof QueueFullError) this._needDrain = true;
        reject(e);
        return;
      }
      if (this._outstanding === 0) this._setRef(true);
      this._outstanding += records.length;
    });
  }

  /** Resolves a topic name to its id (cached). */
  async topicId(name) {
    if (typeof name === 'number') return name;
    const known = this._topicIds.get(name);
    if (known !== undefined) return known;
    return this._lookup(name).promise;
  }

  /**
   * Sends everything buffered now and resolves when every record accepted so far has its
   * report delivered (promises settled, events emitted). Rejects with a TimeoutError (with
   * `remaining`) if `timeoutMs` passes first.
   */
  async flush(timeoutMs = -1) {
    await this._settleLookups();
    const remaining = await binding.producerFlush(this._h, timeoutMs);
    this._drain();
    if (remaining > 0) {
      const e = new TimeoutError(`flush timed out with ${remaining} records pending`, { code: 'TIMED_OUT', retryable: true });
      e.remaining = remaining;
      throw e;
    }
  }

  /**
   * Flushes up to `timeoutMs` (default: no limit beyond delivery.timeout.ms), then fails what is
   * left (PURGED / UNKNOWN_OUTCOME), stops liblnc's threads, and resolves after every record's
   * report has been delivered. Idempotent.
   */
  close(timeoutMs = -1) {
    if (this._closePromise) return this._closePromise;
    this._closing = true;
    this._closePromise = (async () => {
      await this._settleLookups();
      if (this._admin) await this._admin.close();
      await binding.producerClose(this._h, timeoutMs);
      this._drain();
      binding.watchStop(this._h);
      this._setRef(false);
      // Anything still pending can only be a bug; never leave a promise hanging.
      for (const [op, entry] of this._pending) {
        if (entry.reject) entry.reject(new ClosedError('producer closed before a report arrived', { code: 'CLOSED' }));
        this._pending.delete(op);
      }
      this._outstanding = 0;
      this.emit('close');
    })();
    return this._closePromise;
  }

  /** Fails every record not yet written to the wire with PURGED (reported as usual). */
  purge() {
    return binding.producerPurge(this._h);
  }

  /** liblnc's producer counters. */
  metrics() {
    return binding.producerMetrics(this._h);
  }

  // ---------------------------------------------------------------------------------------

  _checkOpen() {
    if (this._closing) throw new ClosedError('producer is closed', { code: 'CLOSED' });
  }

  _register(entry) {
    const op = this._nextOpaque++;
    this._pending.set(op, entry);
    return op;
  }

  _produceWith(id, value, o, opaque) {
    const [type, ext, key, v, ts] = messageFields(value, o, 0);
    this._accept(id, type, ext, key, v, ts, opaque);
  }

  _accept(id, type, ext, key, value, ts, opaque) {
    if (this._closing) throw new ClosedError('producer is closed', { code: 'CLOSED' });
    try {
      binding.producerProduce(this._h, id, type, ext, key, value, ts, opaque);
    } catch (e) {
      if (e instanceof QueueFullError) this._needDrain = true;
      throw e;
    }
    if (this._outstanding++ === 0) this._setRef(true);
  }

  _retryWhenDrained(id, value, options, opaque, deadline, lastErr) {
    const entry = this._pending.get(opaque);
    const retry = () => {
      clearTimeout(timer);
      this.off('drain', retry);
      this.off('close', retry);
      try {
        this._produceWith(id, value, options, opaque);
      } catch (e) {
        if (e instanceof QueueFullError && Date.now() < deadline) {
          this._retryWhenDrained(id, value, options, opaque, deadline, e);
          return;
        }
        this._pending.delete(opaque);
        entry.reject(e);
      }
    };
    const timer = setTimeout(retry, Math.max(0, deadline - Date.now()));
    this._needDrain = true;
    this.on('drain', retry);
    this.on('close', retry);
    void lastErr;
  }

  _setRef(on) {
    if (this._refd === on) return;
    this._refd = on;
    binding.watchRef(this._h, on);
  }

  _onReadable() {
    this._drain();
    if (!this._closePromise || this._outstanding > 0) binding.watchArm(this._h);
  }

  /** Takes every waiting report (bulk calls into lnc_producer_poll_reports) and dispatches it. */
  _drain() {
    let any = false;
    for (;;) {
      const r = binding.producerDrain(this._h);
      if (r === null) break;
      any = true;
      this._dispatch(r.n, r.meta, r.batchIds, r.errors);
    }
    if (any) this._afterReports();
  }

  _afterReports() {
    if (this._outstanding === 0) this._setRef(false);
    if (this._needDrain) {
      this._needDrain = false;
      this.emit('drain');
    }
  }

  _dispatch(n, meta, batchIds, errors) {
    const wantDelivery = this.listenerCount('delivery') > 0;
    const pending = this._pending;
    this._outstanding -= n;
    for (let i = 0; i < n; i++) {
      const j = i * 4;
      const op = meta[j];
      const code = meta[j + 3];
      let entry;
      if (op !== 0) {
        entry = pending.get(op);
        pending.delete(op);
      }
      if (entry === undefined && code === 0 && !wantDelivery) continue;
      const err = code === 0 ? null : errors[i];
      const report = this._report(meta[j + 1], batchIds[i], err, entry);
      // A failed fire-and-forget record is never thrown here (this runs inside a native
      // callback): it shows in its 'delivery' report, and the next flush()/close() rejects.
      if (entry !== undefined && entry.resolve !== undefined) {
        if (err) entry.reject(err);
        else entry.resolve(report);
      } else if (entry !== undefined && entry.onReport !== undefined) {
        entry.onReport(report);
      }
      if (wantDelivery) this.emit('delivery', report);
    }
  }

  _report(topicId, batchId, error, entry) {
    return {
      topicId,
      topic: this._topicNames.get(topicId),
      batchId,
      opaque: entry !== undefined && entry.opaque !== undefined ? entry.opaque : undefined,
      error,
    };
  }

  // Topic names: looked up once (Admin.findTopic) and cached. Records produced to a name still
  // being looked up wait in order; a failed lookup fails each of them with a report.

  _lookup(name) {
    let l = this._resolving.get(name);
    if (l) return l;
    l = { queue: [], promise: null };
    this._resolving.set(name, l);
    if (!this._admin) {
      const { Admin } = require('./admin');
      this._admin = new Admin(this._config);
    }
    l.promise = this._admin.findTopic(name).then(
      (t) => {
        this._topicIds.set(name, t.id);
        this._topicNames.set(t.id, name);
        this._resolving.delete(name);
        this._releaseQueue(t.id, l.queue, null);
        return t.id;
      },
      (err) => {
        this._resolving.delete(name);
        this._releaseQueue(0, l.queue, err);
        throw err;
      },
    );
    l.promise.catch(() => {});
    return l;
  }

  _queueForTopic(name, value, options, opaque) {
    const l = this._lookup(name);
    // The caller may reuse its Buffer after produce() returns: keep a copy while waiting.
    const v = copyBytes(value);
    const o = options ? { ...options } : {};
    o.key = copyBytes(o.key);
    l.queue.push({ value: v, options: o, opaque });
    if (this._outstanding++ === 0) this._setRef(true);
  }

  _releaseQueue(id, queue, err) {
    const failed = [];
    for (const q of queue) {
      this._outstanding--;
      if (!err) {
        try {
          this._produceWith(id, q.value, q.options, q.opaque);
          continue;
        } catch (e) {
          if (e instanceof QueueFullError && q.opaque && this._pending.get(q.opaque)?.resolve) {
            this._retryWhenDrained(id, q.value, q.options, q.opaque, Date.now() + this._sendTimeoutMs, e);
            continue;
          }
          failed.push([q, e]);
        }
      } else {
        failed.push([q, err]);
      }
    }
    if (failed.length === 0) {
      if (this._outstanding === 0) this._setRef(false);
      return;
    }
    // Report each failure exactly like a delivery report (batch id 0: never sent).
    const meta = new Float64Array(failed.length * 4);
    const batchIds = new BigUint64Array(failed.length);
    const errors = [];
    failed.forEach(([q, e], i) => {
      meta[i * 4] = q.opaque;
      meta[i * 4 + 3] = e.errno || -1;
      errors[i] = e;
    });
    this._outstanding += failed.length;
    this._dispatch(failed.length, meta, batchIds, errors);
    this._afterReports();
  }

  async _settleLookups() {
    while (this._resolving.size > 0) {
      await Promise.allSettled([...this._resolving.values()].map((l) => l.promise));
    }
  }
}

module.exports = { Producer, errorFor };
