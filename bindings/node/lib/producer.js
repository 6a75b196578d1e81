'use strict';
const { EventEmitter } = require('node:events');
const binding = require('./binding');
const { errorFor, ClosedError, QueueFullError, TimeoutError } = require('./errors');
const { toPairs } = require('./config');
const { RecordType, EXT_TOMBSTONE, recordType, timestampNs } = require('./types');
const { EventPump, loggerOf } = require('./events');

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
  return v; // strings are immutable; null/undefined
}

/** A batch member: a value, or `{ value, key, type, … }`. */
function batchRow(r, opaque) {
  const plain = r === null || typeof r !== 'object' || ArrayBuffer.isView(r) || r instanceof ArrayBuffer;
  return plain ? messageFields(r, {}, opaque) : messageFields(r.value, r, opaque);
}

/** (id, name) for the addon: a number is a topic id, a string a name liblnc resolves. */
function topicArgs(topic) {
  if (typeof topic === 'number') {
    if (!Number.isInteger(topic) || topic <= 0 || topic > 0xffffffff) throw new RangeError(`bad topic id: ${topic}`);
    return [topic, undefined];
  }
  if (typeof topic === 'string') return [0, topic];
  throw new TypeError('topic must be a topic id (number) or name (string)');
}

/** The per-call wait for buffer space: `timeoutMs` option, else liblnc's config (-1). */
function waitMs(o) {
  if (o === undefined || o.timeoutMs === undefined || o.timeoutMs === null) return -1;
  const t = o.timeoutMs;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new RangeError(`timeoutMs must be a non-negative number, got ${t}`);
  return Math.min(Math.floor(t), 0x7fffffff); // Infinity: the longest wait liblnc takes
}

/**
 * A LANCE producer. Records are batched, sent and acknowledged by liblnc's threads; delivery
 * reports come back to this (JS) thread in bulk, woken by the producer's eventfd.
 *
 * - `produce()` is fire-and-forget: one synchronous call into liblnc that never waits. Its
 *   outcome is a `'delivery'` event (every record, `report.error` set on failure); a failure is
 *   never thrown from the report path: the next `flush()`/`close()` rejects instead.
 * - `send()` / `sendBatch()` return Promises settled by the records' delivery reports.
 * - Topic names are resolved by liblnc (looked up, created when topic.auto.create is true,
 *   cached). Anything that may wait (a name not resolved yet, or buffer space for send()) runs
 *   on the thread pool, in order: a send never overtakes an earlier one.
 * - The process can exit while a producer is open and idle; while records are outstanding the
 *   event loop is kept alive until their reports arrive.
 */
class Producer extends EventEmitter {
  constructor(config = {}) {
    super();
    this._h = binding.producerNew(toPairs(config, SKIP), loggerOf(config));
    this._names = new Map(); // id -> name, for reports (names liblnc resolved for this producer)
    this._resolved = new Set(); // names liblnc has resolved (cached): sending to them never waits on the network
    this._pending = new Map(); // opaque -> { resolve, reject } | { onReport } | { opaque }
    this._nextOpaque = 1;
    this._outstanding = 0; // accepted (or queued in order) and not yet reported
    this._queue = []; // sends that may wait, in order: { id, name, rows, timeoutMs, cancel, fail }
    this._queueRunning = false;
    this._queueIdle = [];
    this._refusal = null; // the first produce()d record refused after queueing (rethrown by flush/close)
    this._refusals = 0;
    this._refd = false;
    this._needDrain = false;
    this._closing = false;
    this._closePromise = null;
    this._finalMetrics = null;
    binding.watchStart(this._h, () => this._onReadable());
    binding.watchArm(this._h);
    // The first event listener makes liblnc wake the eventfd for events; the watcher is armed
    // while the producer is open, so they are emitted as they come.
    this._pump = new EventPump(this, () => this._emitEvents());
  }

  /** Records accepted (or waiting in order) and not yet reported. */
  get outstanding() {
    return this._outstanding;
  }

  /** True once close() has been called. */
  get closed() {
    return this._closing;
  }

  /**
   * Fire-and-forget: appends one record, never waiting. Throws synchronously if it was refused
   * (QueueFullError: wait for 'drain'; MessageTooLargeError, ClosedError, InvalidArgumentError…);
   * otherwise its outcome is one 'delivery' event. To a name liblnc has not resolved yet, the
   * record waits in order on the thread pool; if liblnc then refuses it, the next flush()/close()
   * rejects with that error.
   */
  produce(topic, value, options) {
    this._checkOpen();
    const [id, name] = topicArgs(topic);
    const opaque = options !== undefined && options.opaque !== undefined ? this._register({ opaque: options.opaque }) : 0;
    try {
      if (this._queue.length === 0 && (name === undefined || this._resolved.has(name))) {
        if (options === undefined) binding.producerProduce(this._h, id, name, 0, 0, undefined, value, 0, opaque);
        else {
          const [type, ext, key, v, ts] = messageFields(value, options, opaque);
          binding.producerProduce(this._h, id, name, type, ext, key, v, ts, opaque);
        }
        this._accepted(1);
        return;
      }
      if (this._needDrain) throw errorFor('QUEUE_FULL', 'buffer.memory is full: earlier sends are waiting for space');
      const rows = [options === undefined ? [0, 0, undefined, value, 0, opaque] : messageFields(value, options, opaque)];
      this._enqueue(id, name, rows, 0, undefined, (e) => {
        if (opaque) this._pending.delete(opaque);
        if (this._refusals++ === 0) this._refusal = e;
      });
    } catch (e) {
      if (e instanceof QueueFullError) this._needDrain = true;
      if (opaque) this._pending.delete(opaque);
      throw e;
    }
  }

  /**
   * Appends one record and resolves with its delivery report once it is acknowledged (written
   * and fsynced by the server), or rejects with the final error. When the buffer is full it
   * waits for space on the thread pool: up to `options.timeoutMs`, else as liblnc's config says
   * (send.block, send.timeout.ms). `options.signal` (an AbortSignal) ends that wait.
   */
  send(topic, value, options) {
    return new Promise((resolve, reject) => {
      const opaque = this._register({ resolve, reject });
      try {
        this._checkOpen();
        this._submit(topic, [messageFields(value, options || {}, opaque)], options, (e) => {
          this._pending.delete(opaque);
          reject(e);
        });
      } catch (e) {
        this._pending.delete(opaque);
        reject(e);
      }
    });
  }

  /**
   * Appends `records` atomically: all are accepted or none (then it rejects and nothing is sent).
   * Each record is a value or `{ value, key, type, extType, timestamp }`. Waits for space like
   * send() (`options.timeoutMs`, `options.signal`). Resolves with the delivery reports in order
   * once every record is acknowledged; rejects with the first record's error (carrying
   * `.reports`) if any failed.
   */
  sendBatch(topic, records, options) {
    return new Promise((resolve, reject) => {
      if (!Array.isArray(records)) throw new TypeError('sendBatch: records must be an array');
      this._checkOpen();
      if (records.length === 0) {
        topicArgs(topic);
        resolve([]);
        return;
      }
      const reports = new Array(records.length);
      let left = records.length;
      let failure = null;
      const ops = [];
      const unregister = () => {
        for (const op of ops) this._pending.delete(op);
      };
      try {
        const rows = records.map((r, i) => {
          const op = this._register({
            onReport: (report) => {
              reports[i] = report;
              if (report.error && failure === null) failure = report.error;
              if (--left > 0) return;
              if (failure === null) return resolve(reports);
              const e = Object.create(failure);
              e.reports = reports;
              reject(e);
            },
          });
          ops.push(op);
          return batchRow(r, op);
        });
        this._submit(topic, rows, options, (e) => {
          unregister();
          reject(e);
        });
      } catch (e) {
        unregister();
        reject(e);
      }
    });
  }

  /** Resolves a topic name to its id through liblnc's cache (network on a miss). */
  async topicId(name, options = {}) {
    if (typeof name === 'number') return name;
    this._checkOpen();
    const id = await withCancel(options.signal, (cancel) =>
      binding.producerTopicId(this._h, name, options.timeoutMs ?? -1, cancel),
    );
    this._learn(name, id);
    return id;
  }

  /**
   * Sends everything buffered now and resolves when every record accepted so far has its
   * report delivered (promises settled, events emitted). Rejects with a TimeoutError (with
   * `remaining`) if `timeoutMs` passes first, and with a DeliveryError (DELIVERY_FAILED) when
   * fire-and-forget records failed since the last flush.
   */
  async flush(timeoutMs = -1) {
    await this._queueDrained();
    let remaining;
    try {
      remaining = await binding.producerFlush(this._h, timeoutMs);
    } finally {
      this._drain();
    }
    this._throwRefusal();
    if (remaining > 0) {
      const e = new TimeoutError(`flush timed out with ${remaining} records pending`, { code: 'TIMED_OUT', retryable: true });
      e.remaining = remaining;
      throw e;
    }
  }

  /**
   * Flushes up to `timeoutMs` (default: no limit beyond delivery.timeout.ms), then fails what is
   * left (PURGED / UNKNOWN_OUTCOME), stops liblnc's threads, and resolves after every record's
   * report has been delivered. Sends still waiting in order are refused (ClosedError). Rejects
   * with DELIVERY_FAILED when fire-and-forget records failed. Idempotent: a later call resolves
   * when the close is done (its error goes to the first call only).
   */
  close(timeoutMs = -1) {
    if (this._closePromise) return this._closePromise.then(
      () => {},
      () => {},
    );
    this._closing = true;
    this._closePromise = (async () => {
      // Not yet handed to liblnc: refused; the one running is woken by liblnc's close.
      const waiting = this._queue.splice(this._queueRunning ? 1 : 0);
      for (const item of waiting) this._refuse(item, new ClosedError('producer closed before the record was accepted', { code: 'CLOSED' }));
      let closeError = null;
      try {
        await binding.producerClose(this._h, timeoutMs);
      } catch (e) {
        closeError = e;
      }
      await this._queueDrained();
      this._drain();
      this._emitEvents(); // the last ones (disconnected at close)
      binding.watchStop(this._h);
      this._setRef(false);
      // Free the native producer now (its connections, the name lookups' included), not at GC.
      this._finalMetrics = binding.producerMetrics(this._h);
      this._finalStatistics = binding.statistics(this._h);
      binding.dispose(this._h);
      // Anything still pending can only be a bug; never leave a promise hanging.
      for (const [op, entry] of this._pending) {
        if (entry.reject) entry.reject(new ClosedError('producer closed before a report arrived', { code: 'CLOSED' }));
        this._pending.delete(op);
      }
      this._outstanding = 0;
      this.emit('close');
      if (closeError) throw closeError;
      this._throwRefusal();
    })();
    return this._closePromise;
  }

  /** Fails every record not yet written to the wire with PURGED (reported as usual). */
  purge() {
    if (this._finalMetrics) return 0; // closed: nothing is left to purge
    return binding.producerPurge(this._h);
  }

  /**
   * The statistics document (schema version 1, docs/statistics.md) parsed: records, bytes,
   * batches, retries, in flight, ack latency quantiles, connections. After close(): the last
   * one taken before the handle was freed.
   */
  statistics() {
    if (this._finalStatistics) return JSON.parse(this._finalStatistics);
    return JSON.parse(binding.statistics(this._h));
  }

  /** liblnc's producer counters (after close(): their final values). */
  metrics() {
    return this._finalMetrics || binding.producerMetrics(this._h);
  }

  // ---------------------------------------------------------------------------------------

  _emitEvents() {
    if (!this._finalMetrics) this._pump.emitAll(this._h);
  }

  _checkOpen() {
    if (this._closing) throw new ClosedError('producer is closed', { code: 'CLOSED' });
  }

  _register(entry) {
    const op = this._nextOpaque++;
    this._pending.set(op, entry);
    return op;
  }

  _accepted(n) {
    if (this._outstanding === 0) this._setRef(true);
    this._outstanding += n;
  }

  _learn(name, id) {
    if (name === undefined) return;
    this._resolved.add(name);
    this._names.set(id, name);
  }

  /**
   * send()/sendBatch(): at once when nothing waits before it and it needs no wait; otherwise in
   * order on the thread pool (name resolution, or waiting for space when the buffer is full).
   */
  _submit(topic, rows, options, fail) {
    const [id, name] = topicArgs(topic);
    const timeoutMs = waitMs(options);
    const signal = options && options.signal;
    if (signal && signal.aborted) throw abortError(signal);
    if (this._queue.length === 0 && (name === undefined || this._resolved.has(name))) {
      try {
        binding.producerSendNow(this._h, id, name, rows);
        this._accepted(rows.length);
        return;
      } catch (e) {
        if (!(e instanceof QueueFullError) || timeoutMs === 0) throw e;
        this._needDrain = true; // produce() refuses until the waiting sends are through
      }
    }
    this._enqueue(id, name, rows, timeoutMs, signal, fail);
  }

  _enqueue(id, name, rows, timeoutMs, signal, fail) {
    // The caller may reuse its buffers once this call returns: the queue keeps copies.
    for (const r of rows) {
      r[2] = copyBytes(r[2]);
      r[3] = copyBytes(r[3]);
    }
    this._accepted(rows.length); // counted (and keeping the loop alive) while waiting in order
    this._queue.push({ id, name, rows, timeoutMs, signal, fail });
    this._runQueue();
  }

  async _runQueue() {
    if (this._queueRunning) return;
    this._queueRunning = true;
    while (this._queue.length > 0) {
      const item = this._queue[0];
      try {
        const used = await withCancel(item.signal, (cancel) =>
          binding.producerSendLater(this._h, item.id, item.name, item.rows, item.timeoutMs, cancel),
        );
        this._learn(item.name, used);
      } catch (e) {
        this._refuse(item, e);
      }
      if (this._queue[0] === item) this._queue.shift();
    }
    this._queueRunning = false;
    if (this._outstanding === 0) this._setRef(false);
    if (this._needDrain) {
      this._needDrain = false;
      this.emit('drain');
    }
    for (const wake of this._queueIdle.splice(0)) wake();
  }

  /** A queued send liblnc did not accept: it gets no report. */
  _refuse(item, e) {
    this._outstanding -= item.rows.length;
    item.fail(e);
  }

  _queueDrained() {
    if (!this._queueRunning && this._queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this._queueIdle.push(resolve));
  }

  _throwRefusal() {
    if (this._refusals === 0) return;
    const e = this._refusal;
    const n = this._refusals;
    this._refusal = null;
    this._refusals = 0;
    if (n > 1) e.message = `${e.message} (and ${n - 1} more produce()d records refused)`;
    throw e;
  }

  _setRef(on) {
    if (this._refd === on) return;
    this._refd = on;
    binding.watchRef(this._h, on);
  }

  _onReadable() {
    this._drain();
    this._emitEvents();
    if (!this._closePromise || this._outstanding > 0) binding.watchArm(this._h);
  }

  /** Takes every waiting report (bulk calls into lnc_producer_poll_reports) and dispatches it. */
  _drain() {
    if (this._finalMetrics) return; // closed and freed: every report was taken by close()
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
    if (this._needDrain && this._queue.length === 0) {
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
      topic: this._names.get(topicId),
      batchId,
      opaque: entry !== undefined && entry.opaque !== undefined ? entry.opaque : undefined,
      error,
    };
  }
}

/**
 * Runs `call(cancel)` with a liblnc cancellation token that `signal` (an AbortSignal, optional)
 * fires; a call it cancelled rejects with an AbortError (cause: liblnc's CANCELLED error).
 */
async function withCancel(signal, call) {
  if (!signal) return call(undefined);
  if (signal.aborted) throw abortError(signal);
  const cancel = binding.cancelNew();
  const onAbort = () => binding.cancelFire(cancel);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(cancel);
  } catch (e) {
    throw signal.aborted && e.code === 'CANCELLED' ? abortError(signal, e) : e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function abortError(signal, cause) {
  const e = new Error('the operation was aborted', { cause: cause ?? signal.reason });
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

const SKIP = new Set(['logger']);

module.exports = { Producer, errorFor };
