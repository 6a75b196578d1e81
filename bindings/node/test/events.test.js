'use strict';
// Events (EventEmitter), the logger option and statistics, caused by mock faults: killing the
// broker under a producer and a consumer, a refused token, a NOT_LEADER redirect, the circuit
// breaker, an admin's lost connection.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc } = require('../support/helpers');

const { collect, kind, notStats, describe } = require('../support/events');

test('a refused token: connecting → authFailed → fatal; the logger gets an error line without the token', async (t) => {
  const token = 's3cret-wrong-token-xyz';
  const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  t.after(() => mock.stop());
  mock.requireToken('the-right-one');
  const topic = mock.createTopic('auth');
  const lines = [];
  const p = new lnc.Producer({
    'bootstrap.servers': mock.address,
    'auth.token': token,
    'log.level': 'debug',
    logger: (level, line) => lines.push([level, line]),
  });
  const evs = collect(p);
  const reports = [];
  p.on('delivery', (r) => reports.push(r));
  p.produce(topic, 'x');
  const f = await evs.waitFor('fatal', 0, kind('fatal'));
  assert.deepEqual(notStats(evs.seen.slice(0, f + 1)).map((e) => e.kind), ['connecting', 'authFailed', 'fatal']);
  assert.equal(evs.seen[f].code, 'AUTH_FAILED');
  await p.flush().catch(() => {});
  await p.close().catch(() => {});
  assert.equal(reports.length, 1);
  assert.equal(reports[0].error.code, 'AUTH_FAILED');
  const deadline = Date.now() + 5000;
  while (!lines.some(([l]) => l === 'error') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(lines.some(([l, s]) => l === 'error' && /auth/i.test(s)), `an error line about the token: ${JSON.stringify(lines)}`);
  assert.ok(lines.some(([l]) => l === 'debug'), 'log.level=debug reaches the logger');
  for (const [, s] of lines) assert.ok(!s.includes(token), `token in a log line: ${s}`);
  for (const e of evs.seen) assert.ok(!e.message.includes(token), 'token in an event');
});

test('a NOT_LEADER redirect is a leaderChanged event to the leader', async (t) => {
  const follower = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  const leader = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  t.after(async () => {
    await follower.stop();
    await leader.stop();
  });
  const topic = follower.createTopic('moved');
  assert.equal(leader.createTopic('moved'), topic);
  const p = new lnc.Producer({ 'bootstrap.servers': follower.address, 'linger.ms': 0, 'log.level': 'off' });
  const evs = collect(p);
  await p.send(topic, '0');
  follower.failNextIngests(1, `NOT_LEADER: redirect to ${leader.address}`);
  await p.send(topic, '1');
  await evs.waitFor('connected to the leader', 0, (e) => e.kind === 'connected' && e.server === leader.address);
  const changed = evs.seen.filter(kind('leaderChanged'));
  assert.equal(changed.length, 1, describe(evs.seen));
  assert.equal(changed[0].server, leader.address);
  assert.equal(changed[0].code, 'NOT_LEADER');
  await p.close();
});

test('the circuit breaker: circuitOpen, CIRCUIT_OPEN on produce(), circuitHalfOpen, circuitClosed; no report lost', async (t) => {
  const m1 = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  const port = m1.port;
  const topic = m1.createTopic('circuit');
  let m2 = null;
  t.after(async () => {
    await m1.stop();
    if (m2) await m2.stop();
  });
  const p = new lnc.Producer({
    'bootstrap.servers': m1.address,
    'reconnect.backoff.ms': 10,
    'reconnect.backoff.max.ms': 20,
    'circuit.breaker.failures': 3,
    'circuit.breaker.reset.ms': 300,
    'send.block': false,
    'linger.ms': 0,
    'log.level': 'off',
  });
  const evs = collect(p);
  const reports = new Map();
  p.on('delivery', (r) => reports.set(r.opaque, r.error));
  await p.send(topic, 'up');
  await m1.stop();
  p.produce(topic, 'accepted', { opaque: 1 });
  const open = await evs.waitFor('circuit open', 0, kind('circuitOpen'));
  assert.ok(evs.seen[open].delayMs > 0 && evs.seen[open].delayMs <= 300, `delay ${evs.seen[open].delayMs}`);
  assert.throws(() => p.produce(topic, 'refused', { opaque: 2 }), (e) => e instanceof lnc.CircuitOpenError && e.code === 'CIRCUIT_OPEN');
  await assert.rejects(p.send(topic, 'refused too'), { code: 'CIRCUIT_OPEN' });
  const half = await evs.waitFor('circuit half-open', open + 1, kind('circuitHalfOpen'));
  await evs.waitFor('circuit open again (the trial failed)', half + 1, kind('circuitOpen'));
  m2 = new lnc.MockBroker({ 'ack.delay.ms': 0, port });
  assert.equal(m2.createTopic('circuit'), topic);
  await evs.waitFor('circuit closed', half + 1, kind('circuitClosed'), 20000);
  p.produce(topic, 'after', { opaque: 3 });
  await p.flush();
  assert.deepEqual([...reports.keys()].filter((k) => k !== undefined).sort(), [1, 3]);
  assert.equal(reports.get(1), null);
  assert.equal(reports.get(3), null);
  assert.equal(p.statistics().circuit, 'closed');
  await p.close();
});

test('an admin reports its connection and, on its next call, the lost one; disconnectAll / restart faults on a producer', async (t) => {
  const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  t.after(() => mock.stop());
  const topic = mock.createTopic('faults');
  const lines = [];
  const a = new lnc.Admin({
    'bootstrap.servers': mock.address,
    'reconnect.backoff.ms': 10,
    'reconnect.jitter': 0,
    'log.level': 'info',
    logger: (level, line) => lines.push([level, line]),
  });
  const ae = collect(a);
  const connected = [];
  a.on('connected', (e) => connected.push(e));
  await a.ping();
  const first = await ae.waitFor('admin connected', 0, kind('connected'));
  assert.deepEqual(notStats(ae.seen.slice(0, first + 1)).map((e) => e.kind), ['connecting', 'connected']);
  assert.equal(connected.length, 1, "the named 'connected' event too");
  assert.equal(connected[0].server, mock.address);

  const p = new lnc.Producer({ 'bootstrap.servers': mock.address, 'reconnect.backoff.ms': 10, 'linger.ms': 0, 'log.level': 'off' });
  const pe = collect(p);
  await p.send(topic, 'a');
  const c1 = await pe.waitFor('producer connected', 0, kind('connected'));
  mock.disconnectAll();
  const d = await pe.waitFor('producer disconnected', c1 + 1, kind('disconnected'));
  await a.ping().catch(() => {}); // the admin learns of the loss on its next call
  await a.listTopics();
  const again = await ae.waitFor('admin connected again', first + 1, kind('connected'));
  assert.ok(notStats(ae.seen.slice(first + 1, again)).some(kind('disconnected')), describe(ae.seen));
  await p.send(topic, 'b');
  const c2 = await pe.waitFor('producer reconnected', d + 1, kind('connected'));
  await mock.restart();
  await p.send(topic, 'c');
  await pe.waitFor('producer reconnected after restart', c2 + 1, kind('connected'));
  await p.close();
  await a.close();
  assert.ok(lines.some(([l, s]) => l === 'info' && /connected/.test(s)), `an info line: ${JSON.stringify(lines)}`);
  assert.ok(!lines.some(([l]) => l === 'debug'), 'log.level=info: no debug lines');
});

test('a listener that throws does not break delivery: the error surfaces as uncaughtException', async () => {
  const { spawnSync } = require('node:child_process');
  const path = require('node:path');
  const script = `
    const lnc = require('.');
    const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
    const topic = mock.createTopic('throwing');
    const p = new lnc.Producer({ 'bootstrap.servers': mock.address, 'log.level': 'off' });
    process.on('uncaughtException', (e) => console.log('uncaught', e.message));
    p.once('connected', () => { throw new Error('listener bug'); });
    p.send(topic, 'x').then(async (r) => {
      await new Promise((res) => setTimeout(res, 50));
      console.log('report', r.error);
      await p.close();
      await mock.stop();
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 15000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /uncaught listener bug/);
  assert.match(r.stdout, /report null/);
});

test("liblnc's queue overflowing before the first listener is one eventsDropped event with the count", async (t) => {
  const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  t.after(() => mock.stop());
  const p = new lnc.Producer({ 'bootstrap.servers': mock.address, 'log.level': 'off', 'events.queue.max': 4, 'statistics.interval.ms': 1 });
  await new Promise((r) => setTimeout(r, 100)); // ~100 statistics documents for a queue of 4
  const evs = collect(p);
  const dropped = [];
  p.on('eventsDropped', (e) => dropped.push(e));
  const i = await evs.waitFor('eventsDropped', 0, kind('eventsDropped'));
  assert.ok(evs.seen[i].attempt > 0, `dropped count ${evs.seen[i].attempt}`);
  assert.equal(dropped.length >= 1, true);
  await p.close();
});

test('events, statistics() and metrics() racing close() on a producer, a consumer and an admin', async (t) => {
  const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  t.after(() => mock.stop());
  const topic = mock.createTopic('race');
  const config = { 'bootstrap.servers': mock.address, 'log.level': 'debug', logger: () => {}, 'statistics.interval.ms': 5 };
  const settledOk = (results) => {
    for (const r of results) if (r.status === 'rejected') assert.equal(r.reason.code, 'CLOSED', String(r.reason.stack));
  };
  for (let round = 0; round < 5; round++) {
    const p = new lnc.Producer(config);
    p.on('event', () => {});
    const c = new lnc.Consumer({ ...config, 'topic.id': topic, 'start.offset': 'beginning' });
    c.on('statistics', () => {});
    const a = new lnc.Admin(config);
    a.on('event', () => {});
    const calls = [];
    const later = (fn) => calls.push(new Promise((r) => setImmediate(r)).then(fn));
    for (let i = 0; i < 20; i++) {
      calls.push(p.send(topic, `r${round}-${i}`));
      later(() => p.statistics());
      later(() => p.metrics());
      later(() => c.ready.then(() => [c.statistics(), c.metrics()]));
      calls.push(c.poll(50));
      calls.push(a.ping());
      if (i === round * 4) calls.push(p.close(), c.close(), a.close());
    }
    settledOk(await Promise.allSettled(calls));
    await Promise.all([p.close(), c.close(), a.close()]);
    assert.equal(typeof p.statistics().records_acked, 'number', 'the final document after close');
    assert.equal(c.statistics().kind, 'consumer');
  }
});

test('the logger and event listeners do not keep the process alive', async () => {
  const { spawnSync } = require('node:child_process');
  const path = require('node:path');
  const script = `
    const lnc = require('.');
    (async () => {
      const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
      const config = { 'bootstrap.servers': mock.address, 'log.level': 'debug', logger: () => {}, 'statistics.interval.ms': 50 };
      const id = mock.createTopic('exit-events');
      const p = new lnc.Producer(config);
      p.on('event', () => {});
      await p.send(id, 'one');
      const c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning' });
      c.on('event', () => {});
      const a = new lnc.Admin(config);
      a.on('event', () => {});
      await a.ping();
      console.log('done; not closing anything');
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 15000 });
  assert.equal(r.signal, null, `hung; stderr: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /done/);
});

test('bad input: a logger that is not a function, metrics()/statistics() before ready, calls after close', async (t) => {
  const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  t.after(() => mock.stop());
  const topic = mock.createTopic('bad-input');
  const config = { 'bootstrap.servers': mock.address };
  assert.throws(() => new lnc.Producer({ ...config, logger: 'console' }), TypeError);
  assert.throws(() => new lnc.Admin({ ...config, logger: 42 }), TypeError);
  assert.throws(() => new lnc.Consumer({ ...config, 'topic.id': topic, logger: {} }), TypeError);
  assert.throws(() => new lnc.GroupConsumer({ ...config, 'group.id': 'g', logger: [] }), TypeError);
  const c = new lnc.Consumer({ ...config, 'topic.id': topic });
  assert.throws(() => c.metrics(), { code: 'STATE' });
  assert.throws(() => c.statistics(), { code: 'STATE' });
  await c.ready;
  assert.equal(c.metrics().lag === null || typeof c.metrics().lag === 'bigint', true);
  await c.close();
  assert.equal(c.statistics().kind, 'consumer', 'statistics() works after close');
  const a = new lnc.Admin(config);
  await a.close();
  a.on('event', () => {}); // listening after close starts nothing and throws nothing
  await new Promise((r) => setImmediate(r));
});
