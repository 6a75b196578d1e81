'use strict';
const binding = require('./binding');
const { ClosedError } = require('./errors');
const { toPairs, normalize } = require('./config');
const { EventEmitter } = require('node:events');
const { EventPump, loggerOf } = require('./events');

const OP = {
  create: 9, ensure: 10, createRet: 11, list: 12, find: 13, get: 14, del: 15, setRet: 16,
  status: 17, ping: 18, auth: 19, fetch: 20, subscribe: 21, unsubscribe: 22, commitOffset: 23,
};

function retentionArgs(r) {
  const age = r.maxAgeSecs === undefined || r.maxAgeSecs === null ? Infinity : r.maxAgeSecs;
  const bytes = r.maxBytes === undefined || r.maxBytes === null ? Infinity : r.maxBytes;
  return [age, bytes];
}

function consumerIdOf(o) {
  if (o.consumerId !== undefined) return BigInt(o.consumerId);
  if (o.consumerName !== undefined) return binding.consumerId(o.consumerName);
  throw new TypeError('consumerId or consumerName is required');
}

/**
 * Topic management and cluster calls. Connects on the first call; every call runs on the
 * thread pool and returns a Promise. `timeoutMs` defaults to request.timeout.ms (30 s).
 */
class Admin extends EventEmitter {
  constructor(config = {}) {
    super();
    const cfg = normalize(config);
    const logger = loggerOf(cfg);
    delete cfg.logger;
    this._timeout = cfg['request.timeout.ms'] !== undefined ? Number(cfg['request.timeout.ms']) : 30000;
    this._h = binding.adminNew(toPairs(cfg), logger);
    this._closed = false;
    this._pump = new EventPump(this, () => {
      if (this._closed) return;
      binding.watchStart(this._h, () => this._onReadable());
      this._onReadable();
    });
  }

  _onReadable() {
    if (this._closed) return;
    this._pump.emitAll(this._h);
    binding.watchArm(this._h);
  }

  _call(op, str, topicId, a, b, c, timeoutMs) {
    if (this._closed) return Promise.reject(new ClosedError('admin is closed', { code: 'CLOSED' }));
    return binding.adminCall(this._h, op, str, topicId >>> 0, a ?? 0, b ?? 0, c ?? 0, timeoutMs ?? this._timeout);
  }

  /** Creates a topic; TopicExistsError if the name is taken. `retention` makes it CreateTopicWithRetention. */
  createTopic(name, options = {}) {
    if (options.retention) {
      const [age, bytes] = retentionArgs(options.retention);
      return this._call(OP.createRet, name, 0, age, bytes, 0, options.timeoutMs);
    }
    return this._call(OP.create, name, 0, 0, 0, 0, options.timeoutMs);
  }

  /** Creates the topic or returns the existing one. */
  ensureTopic(name, options = {}) {
    return this._call(OP.ensure, name, 0, 0, 0, 0, options.timeoutMs);
  }

  listTopics(options = {}) {
    return this._call(OP.list, null, 0, 0, 0, 0, options.timeoutMs);
  }

  /** The topic with that name; UnknownTopicError if none. */
  findTopic(name, options = {}) {
    return this._call(OP.find, name, 0, 0, 0, 0, options.timeoutMs);
  }

  getTopic(topicId, options = {}) {
    return this._call(OP.get, null, topicId, 0, 0, 0, options.timeoutMs);
  }

  /** Deletes a topic (by id, or by name after a lookup) and its data. */
  async deleteTopic(topic, options = {}) {
    const id = typeof topic === 'string' ? (await this.findTopic(topic, options)).id : topic;
    return this._call(OP.del, null, id, 0, 0, 0, options.timeoutMs);
  }

  /** Sets retention; omitted, Infinity or 0 limits mean unlimited (liblnc's rule). */
  setRetention(topicId, retention, options = {}) {
    const [age, bytes] = retentionArgs(retention || {});
    return this._call(OP.setRet, null, topicId, age, bytes, 0, options.timeoutMs);
  }

  clusterStatus(options = {}) {
    return this._call(OP.status, null, 0, 0, 0, 0, options.timeoutMs);
  }

  /** Keepalive round trip; resolves with the RTT in milliseconds (a float). */
  ping(options = {}) {
    return this._call(OP.ping, null, 0, 0, 0, 0, options.timeoutMs);
  }

  /** Checks a token with Authenticate (AuthError when refused). */
  authenticate(token, options = {}) {
    return this._call(OP.auth, token, 0, 0, 0, 0, options.timeoutMs);
  }

  /** One raw Fetch: { catchingUp, nextOffset, endOffset, data: Buffer of raw log bytes }. */
  fetch(topicId, offset, maxBytes = 1048576, options = {}) {
    return this._call(OP.fetch, null, topicId, offset, maxBytes, 0, options.timeoutMs);
  }

  /** Server-side Subscribe; resolves with the server's offset. */
  subscribe(topicId, options = {}) {
    return this._call(OP.subscribe, null, topicId, options.startOffset ?? 0, options.maxBatchBytes ?? 1048576,
      consumerIdOf(options), options.timeoutMs);
  }

  unsubscribe(topicId, options = {}) {
    return this._call(OP.unsubscribe, null, topicId, 0, 0, consumerIdOf(options), options.timeoutMs);
  }

  /** Server-side CommitOffset (server memory only). */
  commitOffset(topicId, offset, options = {}) {
    return this._call(OP.commitOffset, null, topicId, offset, 0, consumerIdOf(options), options.timeoutMs);
  }

  /**
   * Frees the native handle and closes its connection. Calls already running finish first
   * (each within its own timeout); calls made after close() reject with ClosedError. Idempotent.
   */
  async close() {
    if (this._closed) return;
    this._closed = true;
    if (this._pump.active) {
      this._pump.emitAll(this._h);
      binding.watchStop(this._h);
    }
    binding.dispose(this._h);
  }
}

/** The consumer id (SipHash-1-3) the official Rust client and liblnc's file store use for a name. */
function consumerId(name) {
  return binding.consumerId(name);
}

module.exports = { Admin, consumerId };
