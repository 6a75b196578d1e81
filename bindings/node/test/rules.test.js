'use strict';
// The cross-binding rules of docs/bindings.md, each tested here as Python and Go test them.
const test = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const binding = require('../lib/binding');
const { makeError } = require('../lib/errors');
const { lnc, topicName, withMock, consumeAll } = require('../support/helpers');

test('ping resolves with the round-trip time in milliseconds (a float)', async (t) => {
  const { config } = await withMock(t);
  const a = new lnc.Admin(config);
  t.after(() => a.close());
  await a.ping(); // connect first: the timed call is one round trip
  const start = performance.now();
  const rtt = await a.ping();
  const elapsed = performance.now() - start;
  assert.equal(typeof rtt, 'number');
  assert.ok(rtt > 0, `rtt ${rtt}`);
  // In microseconds the figure would be ~1000x the wall time the call took.
  assert.ok(rtt <= elapsed, `rtt ${rtt} ms must fit in the ${elapsed} ms the call took`);
});

test('PANIC (-9) is an InternalError with code PANIC', () => {
  assert.equal(binding.errName(-9), 'PANIC');
  // The addon builds every liblnc error through this factory (a panic cannot be provoked on purpose).
  const e = makeError(-9, binding.errName(-9), binding.errStr(-9), false, true, undefined, undefined);
  assert.ok(e instanceof lnc.InternalError);
  assert.ok(e instanceof lnc.LncError);
  assert.ok(!(e instanceof lnc.StateError));
  assert.equal(e.code, 'PANIC');
  assert.equal(e.errno, -9);
  assert.equal(e.name, 'InternalError');
});

test('retention 0 means no limit (never an error)', async (t) => {
  const { config } = await withMock(t);
  const a = new lnc.Admin(config);
  t.after(() => a.close());
  const topic = await a.createTopic(topicName(), { retention: { maxAgeSecs: 0, maxBytes: 0 } });
  assert.ok(topic.id > 0);
  // The reply echoes the server's "no limit" (the age as u64::MAX nanoseconds, in seconds): never 0.
  if (topic.retention) {
    assert.equal(topic.retention.maxBytes, Infinity);
    assert.ok(topic.retention.maxAgeSecs >= 18446744073, String(topic.retention.maxAgeSecs));
  }
  await a.setRetention(topic.id, { maxAgeSecs: 0, maxBytes: 1 << 20 });
  await a.setRetention(topic.id, { maxAgeSecs: 3600, maxBytes: 0 });
  await a.setRetention(topic.id, { maxAgeSecs: 0, maxBytes: 0 });
});

test('u64 offsets, positions, lag and batch ids are exact BigInts; unsafe numbers are refused', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const r = await p.send(id, 'a');
  assert.equal(typeof r.batchId, 'bigint');
  await p.send(id, 'b');
  const size = mock.topicSize(id);
  assert.equal(typeof size, 'bigint');
  const recs = await consumeAll(config, id, 2);
  assert.deepEqual(recs.map((x) => typeof x.offset), ['bigint', 'bigint']);
  assert.equal(recs[0].offset, 0n);

  const c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning' });
  t.after(() => c.close());
  assert.equal(c.position(), 0n);
  assert.equal(await c.lag(), size);
  assert.equal(await c.seek('end'), size);
  assert.equal(await c.seek(recs[1].offset), recs[1].offset);
  assert.equal(await c.seek(Number(recs[1].offset)), recs[1].offset); // safe numbers are accepted
  await assert.rejects(c.seek(2 ** 53 + 2), RangeError); // would be rounded: refused
  await assert.rejects(c.seek(-1), RangeError);
  await assert.rejects(c.seek(1.5), RangeError);
  await assert.rejects(c.seek(2n ** 64n), RangeError);
  // A bigint above 2^53 reaches liblnc and comes back exactly (2^60 + 1 is not a double).
  const far = 2n ** 60n + 1n;
  assert.equal(await c.seek(far), far);
  assert.equal(c.position(), far);

  const a = new lnc.Admin(config);
  t.after(() => a.close());
  const f = await a.fetch(id, 0, 65536);
  assert.equal(typeof f.nextOffset, 'bigint');
  assert.equal(f.nextOffset, size);
});

test('a failed fire-and-forget record is never thrown from the report path; flush() rejects with DELIVERY_FAILED', async (t) => {
  const { mock, config } = await withMock(t);
  const good = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'delivery.timeout.ms': 5000 });
  t.after(() => p.close().catch(() => {}));
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  // No 'error' listener: an 'error' event emitted by the report path would throw.
  p.produce(4242, 'to an unknown topic');
  p.produce(good, 'fine');
  await assert.rejects(p.flush(), (e) => {
    assert.ok(e instanceof lnc.DeliveryFailedError && e instanceof lnc.DeliveryError, `got ${e}`);
    assert.equal(e.code, 'DELIVERY_FAILED');
    assert.match(e.message, /1/); // the count of failed records
    return true;
  });
  assert.deepEqual(uncaught, []);
  assert.equal(p.metrics().recordsFailed, 1);
  assert.equal(p.metrics().recordsAcked, 1);
  // Reported once: the next flush has nothing new to report.
  await p.flush();
});
