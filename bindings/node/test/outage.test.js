'use strict';
// Killing the mock broker under a running producer and consumer (issue #17's acceptance test).
// Its own file (its own process): see the Limits section of README.md.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc } = require('../support/helpers');

const OUTAGE = {
  'reconnect.backoff.ms': 40,
  'reconnect.jitter': 0,
  'circuit.breaker.failures': 0,
  'linger.ms': 0,
  'log.level': 'off',
  'request.timeout.ms': 5000,
  'connect.timeout.ms': 1000,
};

const { collect, kind, notStats, describe } = require('../support/events');

/** disconnected (with a reason) → reconnectScheduled (≥ 2, growing delays) … → connected. */
function checkOutage(who, all) {
  const evs = notStats(all);
  const c = evs.findLastIndex(kind('connected'));
  // A dying server may still complete a TCP handshake from its backlog: connected → disconnected
  // flaps are true events. The outage is checked from the last disconnection before reconnecting.
  const d = evs.slice(0, Math.max(c, 0)).findLastIndex(kind('disconnected'));
  assert.ok(d >= 0 && c > d, `${who}: want disconnected … connected, got ${describe(evs)}`);
  assert.ok(evs[d].code && evs[d].message, `${who}: disconnected without a reason`);
  const between = evs.slice(d + 1, c);
  for (const e of between) {
    assert.ok(e.kind === 'reconnectScheduled' || e.kind === 'connecting', `${who}: unexpected ${e.kind}: ${describe(evs)}`);
  }
  const scheduled = between.filter(kind('reconnectScheduled'));
  assert.ok(scheduled.length >= 2, `${who}: want ≥ 2 reconnects scheduled, got ${describe(evs)}`);
  for (let i = 1; i < scheduled.length; i++) {
    assert.equal(scheduled[i].attempt, scheduled[i - 1].attempt + 1, `${who}: attempts count up`);
    assert.ok(scheduled[i].delayMs >= scheduled[i - 1].delayMs, `${who}: delays grow: ${describe(evs)}`);
  }
  assert.ok(scheduled.at(-1).delayMs > scheduled[0].delayMs, `${who}: delays grow: ${describe(evs)}`);
}

test('killing the mock under a producer and a consumer: disconnected → reconnectScheduled (growing) → connected, then statistics agree with the reports', async (t) => {
  const m1 = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  const port = m1.port;
  const before = m1.createTopic('outage-before');
  const consumed = m1.createTopic('outage-consumed');
  let m2 = null;
  t.after(async () => {
    await m1.stop();
    if (m2) await m2.stop();
  });
  const config = { ...OUTAGE, 'bootstrap.servers': m1.address };
  const p = new lnc.Producer({ ...config, 'statistics.interval.ms': 100 });
  let acked = 0;
  let failed = 0;
  p.on('delivery', (r) => (r.error ? failed++ : acked++));
  const pe = collect(p);
  const statsEvents = [];
  p.on('statistics', (doc) => statsEvents.push(doc));
  const c = new lnc.Consumer({ ...config, 'topic.id': consumed, 'start.offset': 'beginning' });
  // Closed even when an assertion fails, so a failing run reports instead of keeping the process.
  t.after(async () => {
    await c.close().catch(() => {});
    await p.close().catch(() => {});
  });
  const ce = collect(c);
  await c.ready;

  // The application's poll loop runs throughout the outage.
  let polled = 0;
  let stop = false;
  const pollLoop = (async () => {
    while (!stop) {
      try {
        polled += (await c.poll(200)).length;
      } catch (e) {
        if (!e.retryable) throw e; // reconnecting: keep polling
      }
    }
  })();

  for (let i = 0; i < 20; i++) p.produce(before, `before ${i}`);
  await p.flush();
  const pc = await pe.waitFor('producer connected', 0, kind('connected'));
  const cc = await ce.waitFor('consumer connected', 0, kind('connected'));
  for (const [who, evs] of [['producer', pe.seen.slice(0, pc + 1)], ['consumer', ce.seen.slice(0, cc + 1)]]) {
    assert.deepEqual(notStats(evs).map((e) => e.kind), ['connecting', 'connected'], who);
    assert.equal(notStats(evs)[1].server, m1.address, who);
  }

  await m1.stop();
  p.produce(before, 'during the outage'); // a blocking-mode record is accepted while the broker is down
  const third = (e) => e.kind === 'reconnectScheduled' && e.attempt >= 3;
  const p3 = await pe.waitFor('producer: third reconnect scheduled', pc + 1, third);
  const c3 = await ce.waitFor('consumer: third reconnect scheduled', cc + 1, third);

  m2 = new lnc.MockBroker({ 'ack.delay.ms': 0, port });
  assert.equal(m2.createTopic('outage-before'), before);
  assert.equal(m2.createTopic('outage-consumed'), consumed);
  const pr = await pe.waitFor('producer reconnected', p3 + 1, kind('connected'));
  const cr = await ce.waitFor('consumer reconnected', c3 + 1, kind('connected'));
  checkOutage('producer', pe.seen.slice(pc + 1, pr + 1));
  checkOutage('consumer', ce.seen.slice(cc + 1, cr + 1));

  const AFTER = 30;
  for (let i = 0; i < AFTER; i++) p.produce(consumed, `after ${i}`);
  await p.flush();
  const deadline = Date.now() + 20000;
  while (polled < AFTER && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop = true;
  await pollLoop;
  assert.equal(polled, AFTER, 'the consumer read every record written after the outage');

  // Statistics agree with the delivery reports: the document...
  assert.equal(acked, 20 + 1 + AFTER);
  const doc = p.statistics();
  assert.equal(doc.kind, 'producer');
  assert.equal(doc.records_acked, acked, JSON.stringify(doc));
  assert.equal(doc.records_failed, failed);
  // ... and the periodic event.
  await pe.waitFor('a statistics event counting every report', pr + 1,
    (e) => e.kind === 'statistics' && e.statistics.records_acked === acked);
  assert.ok(statsEvents.length > 0 && typeof statsEvents[0] === 'object', "'statistics' gets the parsed document");
  const cdoc = c.statistics();
  assert.equal(cdoc.kind, 'consumer');
  const cm = c.metrics();
  assert.equal(cm.records, AFTER);
  assert.equal(typeof cm.position, 'bigint');
  assert.ok(cm.reconnects >= 1, `consumer reconnects ${cm.reconnects}`);
  await c.close();
  await p.close();
  assert.throws(() => p.produce(before, 'x'), { code: 'CLOSED' });
  assert.equal(p.statistics().records_acked, acked, 'statistics() after close: the final document');
});
