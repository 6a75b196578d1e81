'use strict';
// A member of a consumer group (liblnc's lnc_group_consumer_*): topics shared by the group's
// live members, handed over with generation fencing, resumed at the group's newest commit.
const { EventEmitter } = require('node:events');
const binding = require('./binding');
const { ClosedError } = require('./errors');
const { toPairs } = require('./config');
const { ConsumerRecord } = require('./consumer');
const { loggerOf } = require('./events');

const SKIP = new Set(['logger']);

function emitSafely(owner, name, arg) {
  try {
    owner.emit(name, arg);
  } catch (e) {
    process.nextTick(() => {
      throw e;
    });
  }
}

/**
 * One member of the group `group.id` sharing `group.topics` (or every topic named
 * `group.topic.prefix`*). `poll()` returns records of the topics this member owns now, each
 * tagged with its `topicId`; ownership changes are 'assigned' / 'revoked' events (topic ids),
 * emitted before the records of the poll that saw them. Semantics are at-least-once: records
 * returned before a 'revoked' may be delivered again to the topic's next owner (docs/groups.md).
 *
 * The constructor returns at once; joining (creating the group topic if needed) runs on the
 * thread pool (`await member.ready`, or just call poll()).
 */
class GroupConsumer extends EventEmitter {
  constructor(config = {}) {
    super();
    this._h = null;
    this._memberId = null;
    this._closing = false;
    this._closePromise = null;
    this._pendingError = null; // an error that followed records: thrown by the next poll()
    this._ready = binding.groupNew(toPairs(config, SKIP), loggerOf(config)).then((h) => {
      this._h = h;
      this._memberId = binding.groupMemberId(h);
      return this;
    });
    this._ready.catch(() => {});
  }

  /** Creates a member and waits until it has joined. */
  static async create(config) {
    return new GroupConsumer(config).ready;
  }

  /** Resolves with this member once it has joined the group. */
  get ready() {
    return this._ready;
  }

  /** This member's id in the group log (null until ready). */
  get memberId() {
    return this._memberId;
  }

  get closed() {
    return this._closing;
  }

  /**
   * Waits up to `timeoutMs` (default 1000; < 0 = until close) and returns the records ready
   * ([] on timeout or after close). Calling poll marks the records of earlier polls processed:
   * they are what the member commits. Rejects with a topic's error (it carries `topicId`) after
   * the records that preceded it were returned.
   */
  async poll(timeoutMs = 1000) {
    await this._ready;
    if (this._pendingError) {
      const e = this._pendingError;
      this._pendingError = null;
      throw e;
    }
    if (this._closing) return [];
    let batch;
    try {
      batch = await binding.groupPoll(this._h, Math.max(-1, Math.min(Math.floor(timeoutMs), 0x7fffffff)));
    } catch (e) {
      if (this._closing && (e instanceof ClosedError || e.code === 'CLOSED')) return [];
      throw e;
    }
    const records = [];
    for (const ev of batch) {
      if (ev.kind === 'record') {
        records.push(new ConsumerRecord(ev.topicId, ev.type, ev.extType, ev.offset, ev.key, ev.value, ev.timestamp));
      } else if (ev.kind === 'assigned' || ev.kind === 'revoked') {
        emitSafely(this, ev.kind, ev.topics);
      } else if (this._pendingError === null) {
        ev.error.topicId = ev.topicId;
        this._pendingError = ev.error;
      }
    }
    if (records.length === 0 && this._pendingError) {
      const e = this._pendingError;
      this._pendingError = null;
      throw e;
    }
    return records;
  }

  /** Records one by one until close() (break out to stop; the member stays in the group). */
  async *[Symbol.asyncIterator]() {
    while (!this._closing) {
      const batch = await this.poll(1000);
      for (const r of batch) yield r;
    }
  }

  /** The topic ids this member consumes now (synchronous; [] before ready). */
  assignment() {
    if (this._h === null) return [];
    return binding.groupAssignment(this._h);
  }

  /**
   * Leaves the group: commits what poll() handed out, writes a leave record (the others take the
   * topics over at once) and stops, within `timeoutMs` (< 0 = no limit). A waiting poll() resolves
   * with []. Idempotent: later calls resolve when the first is done.
   */
  close(timeoutMs = -1) {
    if (this._closePromise) return this._closePromise;
    this._closing = true;
    this._closePromise = (async () => {
      try {
        await this._ready;
      } catch {
        return; // never joined
      }
      try {
        await binding.groupClose(this._h, timeoutMs);
      } finally {
        binding.dispose(this._h); // freed once a poll still in flight has returned
      }
    })();
    return this._closePromise;
  }
}

module.exports = { GroupConsumer };
