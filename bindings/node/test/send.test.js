'use strict';
// Sends through lnc_producer_send_with_options: topic names resolved by liblnc, waits for space
// on the thread pool (never the JS thread) in send order, per-call timeouts and AbortSignals.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc, topicName, withMock, consumeAll } = require('../support/helpers');

/** Stalls the mock and produce()s until the buffer is full; returns how many were accepted. */
function fillBuffer(mock, p, id) {
  mock.stallReading(true);
  for (let i = 0; i < 100000; i++) {
    try {
      p.produce(id, Buffer.alloc(200, 'f'));
    } catch (e) {
      assert.ok(e instanceof lnc.QueueFullError, `expected QueueFullError, got ${e}`);
      return i;
    }
  }
  throw new Error('the buffer never filled');
}

test('topic by name: liblnc resolves it (creating it by default) and the report carries the name', async (t) => {
  const { mock, config } = await withMock(t);
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const name = topicName('auto');
  const r = await p.send(name, 'created on first use');
  assert.equal(r.topic, name);
  const a = new lnc.Admin(config);
  t.after(() => a.close());
  assert.equal((await a.findTopic(name)).id, r.topicId);
  assert.equal(await p.topicId(name), r.topicId);
  const existing = topicName('existing');
  const id = mock.createTopic(existing);
  assert.equal(await p.topicId(existing), id);
  const reports = await p.sendBatch(existing, ['a', 'b']);
  assert.ok(reports.every((x) => x.topicId === id && x.topic === existing));
  // Once resolved, produce() by name is one synchronous call.
  p.produce(existing, 'c');
  await p.flush();
  assert.equal((await consumeAll(config, id, 3)).length, 3);
});

test('topic.auto.create=false: unknown names are refused with liblnc\'s error, produce() ones at flush()', async (t) => {
  const { config } = await withMock(t);
  const p = new lnc.Producer({ ...config, 'topic.auto.create': false });
  t.after(() => p.close().catch(() => {}));
  await assert.rejects(p.send('no-such-topic', 'x'), (e) => e instanceof lnc.UnknownTopicError && e.code === 'UNKNOWN_TOPIC');
  await assert.rejects(p.topicId('no-such-topic'), lnc.UnknownTopicError);
  await assert.rejects(p.sendBatch('no-such-topic', ['x']), lnc.UnknownTopicError);
  await assert.rejects(p.send('bad name!', 'x'), (e) => e instanceof lnc.LncError);
  const delivered = [];
  p.on('delivery', (r) => delivered.push(r));
  p.produce('still-no-such-topic', 'a'); // queued: liblnc answers on the thread pool
  p.produce('still-no-such-topic', 'b');
  await assert.rejects(p.flush(), (e) => e instanceof lnc.UnknownTopicError && /1 more/.test(e.message));
  assert.deepEqual(delivered, [], 'a refused record gets no report (it was never accepted)');
  assert.equal(p.outstanding, 0);
  await p.flush(); // reported once
});

test('send() waits for space on the thread pool: the event loop keeps running and send order is kept', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'buffer.memory': 4096, 'batch.size': 1024 });
  t.after(() => p.close());
  const filled = fillBuffer(mock, p, id);
  const order = ['first', 'second', 'third'];
  const sends = [p.send(id, order[0]), p.sendBatch(id, [order[1]]), p.send(id, order[2])];
  // A produce() behind waiting sends is refused (the buffer is full), never reordered.
  assert.throws(() => p.produce(id, 'overtaker'), lnc.QueueFullError);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(ticks >= 5, `the JS thread was blocked (${ticks} ticks)`);
  clearInterval(timer);
  const drained = new Promise((r) => p.once('drain', r));
  mock.stallReading(false);
  await Promise.all(sends);
  await drained;
  await p.flush();
  const recs = await consumeAll(config, id, filled + 3);
  assert.deepEqual(recs.slice(filled).map((r) => r.text()), order);
});

test('timeoutMs bounds the wait for space (0: not at all); an AbortSignal ends it', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'buffer.memory': 4096, 'batch.size': 1024, 'send.timeout.ms': 60000 });
  t.after(() => {
    mock.stallReading(false);
    return p.close().catch(() => {}); // the filler records may fail (DELIVERY_FAILED)
  });
  fillBuffer(mock, p, id);
  await assert.rejects(p.send(id, 'x', { timeoutMs: 0 }), lnc.QueueFullError);
  await assert.rejects(p.send(id, 'x', { timeoutMs: 100 }), (e) => e instanceof lnc.QueueFullError || e instanceof lnc.TimeoutError);
  const ac = new AbortController();
  const aborted = p.send(id, 'x', { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(aborted, (e) => e.name === 'AbortError' && e.cause && e.cause.code === 'CANCELLED');
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(p.send(id, 'x', { signal: pre.signal }), (e) => e.name === 'AbortError');
  await assert.rejects(p.send(id, 'x', { timeoutMs: -1 }), RangeError);
  assert.ok(p.outstanding > 0);
}, { timeout: 20000 });

test('close() wakes a send waiting for space and refuses the sends queued behind it', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'buffer.memory': 4096, 'batch.size': 1024, 'send.timeout.ms': 60000 });
  fillBuffer(mock, p, id);
  const waiting = [p.send(id, 'a'), p.send(id, 'b'), p.sendBatch(id, ['c', 'd'])];
  await new Promise((r) => setTimeout(r, 50));
  const closing = p.close(100).catch((e) => e);
  const rs = await Promise.allSettled(waiting);
  for (const r of rs) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.reason instanceof lnc.LncError, String(r.reason));
    assert.ok(['CLOSED', 'PURGED', 'UNKNOWN_OUTCOME'].includes(r.reason.code), r.reason.code);
  }
  const closeResult = await closing;
  assert.ok(closeResult === undefined || closeResult.code === 'DELIVERY_FAILED', String(closeResult));
  assert.equal(p.outstanding, 0);
  mock.stallReading(false);
}, { timeout: 20000 });

test('names, waits, batches, flush and close race without a lost or duplicated report', async (t) => {
  const { mock, config } = await withMock(t);
  const ids = [mock.createTopic(topicName()), mock.createTopic(topicName())];
  const names = [topicName('race'), topicName('race')];
  const p = new lnc.Producer({ ...config, 'buffer.memory': 16384, 'batch.size': 2048 });
  let delivered = 0;
  let deliveredOk = 0;
  p.on('delivery', (r) => {
    delivered++;
    if (r.error === null) deliveredOk++;
  });
  let accepted = 0;
  const ops = [];
  for (let i = 0; i < 200; i++) {
    const topic = i % 3 === 0 ? names[i % 2] : ids[i % 2];
    ops.push(p.send(topic, `s${i}`).then(() => accepted++));
    ops.push(p.sendBatch(topic, [`b${i}`, `c${i}`]).then(() => (accepted += 2)));
    if (i % 7 === 0) ops.push(p.topicId(names[(i + 1) % 2]));
    if (i === 50) mock.stallReading(true);
    if (i === 80) setTimeout(() => mock.stallReading(false), 50);
    if (i === 120) ops.push(p.flush());
    if (i === 180) ops.push(p.close());
  }
  const rs = await Promise.allSettled(ops);
  for (const r of rs) if (r.status === 'rejected') assert.ok(r.reason instanceof lnc.LncError, String(r.reason && r.reason.stack));
  await p.close().catch(() => {});
  const m = p.metrics();
  assert.equal(delivered, m.recordsAcked + m.recordsFailed, 'one report per accepted record');
  assert.ok(deliveredOk >= accepted, 'every resolved send was acknowledged');
  assert.equal(p.outstanding, 0);
}, { timeout: 60000 });

test('consumer calls take a per-call timeout (create, seek, commit, lag)', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const slow = { ...config, 'request.timeout.ms': 60000, 'topic.id': id };
  const c = await lnc.Consumer.create(slow, { timeoutMs: 5000 });
  t.after(() => c.close());
  // With request.timeout.ms at 60 s, only the per-call timeout can end these calls in time.
  mock.stallReading(true);
  // lag() answers from the end the fetcher learned in the last 500 ms without asking the server:
  // let that go stale so the call has to ask (and time out).
  await new Promise((r) => setTimeout(r, 600));
  await assert.rejects(c.lag({ timeoutMs: 200 }), (e) => e instanceof lnc.TimeoutError && e.code === 'TIMED_OUT');
  await assert.rejects(c.seek('end', { timeoutMs: 200 }), (e) => e instanceof lnc.TimeoutError);
  await assert.rejects(lnc.Consumer.create({ ...slow, topic: 'by-name', 'topic.id': undefined }, { timeoutMs: 200 }),
    (e) => e instanceof lnc.TimeoutError);
  mock.stallReading(false);
  assert.equal(await c.lag({ timeoutMs: 5000 }), 0n);
  assert.equal(await c.seek('end', { timeoutMs: 5000 }), 0n);
  assert.equal(typeof (await c.commit({ timeoutMs: 5000 })), 'bigint');
  await assert.rejects(c.lag({ timeoutMs: -5 }), RangeError);
}, { timeout: 20000 });

test('mock createTopic errors carry liblnc\'s details', async (t) => {
  const { mock } = await withMock(t);
  const name = topicName();
  mock.createTopic(name);
  assert.throws(() => mock.createTopic(name), (e) => e instanceof lnc.TopicExistsError && e.message.length > 0);
  assert.throws(() => mock.createTopic('bad name!'), (e) => e instanceof lnc.InvalidNameError && /name/i.test(e.message));
});
