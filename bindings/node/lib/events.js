'use strict';
// Connection, circuit and statistics events (liblnc's lnc_*_poll_events), and the log callback
// option. Events are taken on the JS thread when the handle's eventfd wakes its watcher; liblnc
// queues them (up to events.queue.max) until the first listener asks, as the Go binding does.
const binding = require('./binding');

/** liblnc's event kind names → the EventEmitter event names. */
const EVENT_NAMES = {
  connecting: 'connecting',
  connected: 'connected',
  disconnected: 'disconnected',
  reconnect_scheduled: 'reconnectScheduled',
  leader_changed: 'leaderChanged',
  auth_failed: 'authFailed',
  fatal: 'fatal',
  circuit_open: 'circuitOpen',
  circuit_half_open: 'circuitHalfOpen',
  circuit_closed: 'circuitClosed',
  statistics: 'statistics',
  events_dropped: 'eventsDropped',
};
const LISTENED = new Set(['event', ...Object.values(EVENT_NAMES)]);

const LOG_LEVELS = { 3: 'error', 4: 'warn', 6: 'info', 7: 'debug' };

/** A listener's exception is rethrown outside the native callback that delivered the event. */
function rethrowLater(e) {
  process.nextTick(() => {
    throw e;
  });
}

/** The addon's log callback for `config.logger` (undefined when none): (level, line) => void. */
function loggerOf(config) {
  const fn = config && config.logger;
  if (fn === undefined || fn === null) return undefined;
  if (typeof fn !== 'function') throw new TypeError('logger must be a function (level, line) => void');
  return (level, line) => {
    try {
      fn(LOG_LEVELS[level] || 'debug', line);
    } catch (e) {
      rethrowLater(e);
    }
  };
}

/** The JS event object of one liblnc event. */
function toEvent(raw) {
  const ev = {
    kind: EVENT_NAMES[raw.kind] || raw.kind,
    code: raw.code ?? null,
    server: raw.server,
    nodeId: raw.nodeId,
    attempt: raw.attempt,
    delayMs: raw.delayMs,
    message: raw.message,
  };
  if (ev.kind === 'statistics') {
    try {
      ev.statistics = JSON.parse(raw.message);
    } catch (e) {
      ev.statistics = null; // liblnc always sends valid JSON; never let a bad document throw here
    }
  }
  return ev;
}

/**
 * Wires the event pump into an EventEmitter `owner`: `start()` is called once, when the first
 * listener of an event (or of 'event') is added. `emitAll(handle)` drains and emits what waits.
 */
class EventPump {
  constructor(owner, start) {
    this.owner = owner;
    this.active = false;
    owner.on('newListener', (name) => {
      if (!this.active && LISTENED.has(name)) {
        this.active = true;
        process.nextTick(start); // after the listener is in place
      }
    });
  }

  /** Takes every waiting event from `handle` and emits it; returns how many. */
  emitAll(handle) {
    if (!this.active || !handle) return 0;
    const raws = binding.pollEvents(handle);
    for (const raw of raws) {
      const ev = toEvent(raw);
      try {
        this.owner.emit('event', ev);
        this.owner.emit(ev.kind, ev.kind === 'statistics' ? ev.statistics : ev);
      } catch (e) {
        rethrowLater(e);
      }
    }
    return raws.length;
  }
}

module.exports = { EventPump, loggerOf, EVENT_NAMES };
