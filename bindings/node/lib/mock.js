'use strict';
const binding = require('./binding');
const { toPairs } = require('./config');

const M = {
  address: 1, port: 2, dropFrames: 3, dropBytes: 4, disconnectAll: 5, ackDelay: 6, dropAcks: 7, stall: 8,
  forceCatchingUp: 9, fetchRate: 10, writeOnly: 11, truncateFront: 12, failIngests: 13, failRequests: 14,
  requireToken: 15, createTopic: 16, stats: 17, topicSize: 18, restart: 19, stop: 20,
};

/**
 * liblnc's embedded LANCE mock broker (in-process, in memory) for tests, with fault injection.
 * Settings: host, port (0 = ephemeral), ack.delay.ms (default 5), checksum, max.payload.bytes,
 * auth.token, write.only, fetch.rate.limit.bytes, segment.bytes.
 */
class MockBroker {
  constructor(settings = {}) {
    this._h = binding.mockNew(toPairs(settings));
    this._address = binding.mockCall(this._h, M.address);
    this._stopped = null;
  }

  /** 'host:port' to use as bootstrap.servers. */
  get address() {
    return this._address;
  }

  get port() {
    return binding.mockCall(this._h, M.port);
  }

  /** Closes the connection that receives the n-th next frame (0 disables). */
  dropAfterFrames(n) {
    binding.mockCall(this._h, M.dropFrames, n);
  }

  /** Closes the connection that receives the n-th next byte (0 disables). */
  dropAfterBytes(n) {
    binding.mockCall(this._h, M.dropBytes, n);
  }

  /** Cuts every open connection now. */
  disconnectAll() {
    binding.mockCall(this._h, M.disconnectAll);
  }

  /** Durability delay before Acks. */
  setAckDelayMs(ms) {
    binding.mockCall(this._h, M.ackDelay, ms);
  }

  /** Stores the next n ingests but never acks them. */
  dropNextAcks(n) {
    binding.mockCall(this._h, M.dropAcks, n);
  }

  /** Stops (true) or resumes (false) reading sockets: TCP backpressure. */
  stallReading(stall = true) {
    binding.mockCall(this._h, M.stall, stall ? 1 : 0);
  }

  /** Answers the next n data fetches with CatchingUp. */
  forceCatchingUp(n) {
    binding.mockCall(this._h, M.forceCatchingUp, n);
  }

  /** Server-wide fetch rate limit in bytes/s (0 = off). */
  setFetchRateLimit(bytesPerSec) {
    binding.mockCall(this._h, M.fetchRate, bytesPerSec);
  }

  /** The server's write_only quirk (disables ingest auth). */
  setWriteOnly(on = true) {
    binding.mockCall(this._h, M.writeOnly, on ? 1 : 0);
  }

  /** Drops n bytes from the front of a topic's log (a retention shift). */
  truncateFront(topicId, n) {
    binding.mockCall(this._h, M.truncateFront, topicId, n);
  }

  /** Answers the next n ingests with ErrorResponse `text` (e.g. 'FORWARD_FAILED: ...'); store = keep them anyway. */
  failNextIngests(n, text, store = false) {
    binding.mockCall(this._h, M.failIngests, n, store ? 1 : 0, text);
  }

  /** Answers the next n control requests (fetches included) with ErrorResponse `text`. */
  failNextRequests(n, text) {
    binding.mockCall(this._h, M.failRequests, n, 0, text);
  }

  /** Requires `token` for ingests (null = no authentication). */
  requireToken(token) {
    binding.mockCall(this._h, M.requireToken, 0, 0, token ?? null);
  }

  /** Creates a topic directly; returns its id. */
  createTopic(name) {
    return binding.mockCall(this._h, M.createTopic, 0, 0, name);
  }

  stats() {
    return binding.mockCall(this._h, M.stats);
  }

  /** Bytes in a topic's stored log. */
  topicSize(topicId) {
    return binding.mockCall(this._h, M.topicSize, topicId);
  }

  /** Restarts: cuts connections, forgets subscriptions, runs the recovery scan, keeps data. */
  restart() {
    return binding.mockCall(this._h, M.restart);
  }

  /** Stops the broker (idempotent). */
  stop() {
    if (!this._stopped) this._stopped = binding.mockCall(this._h, M.stop);
    return this._stopped;
  }

  close() {
    return this.stop();
  }
}

module.exports = { MockBroker };
