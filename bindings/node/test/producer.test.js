'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const { lnc, topicName, withMock, consumeAll } = require('../support/helpers');

test('send() resolves with the delivery report (topic by name and by id)', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const name = topicName();
  const admin = new lnc.Admin(config);
  const topic = await admin.createTopic(name);
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const r1 = await p.send(name, 'hello');
  assert.equal(r1.topicId, topic.id);
  assert.equal(r1.topic, name);
  assert.equal(typeof r1.batchId, 'bigint');
  assert.ok(r1.batchId > 0n);
  assert.equal(r1.error, null);
  const r2 = await p.send(id, Buffer.from('world'));
  assert.equal(r2.topicId, id);
  assert.equal(await p.topicId(name), topic.id);
  assert.equal(p.outstanding, 0);
});

test('every record type round-trips through produce and consume', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const ts = 1700000000123456789n;
  const when = new Date(1700000000000);
  await Promise.all([
    p.send(id, 'raw text'),
    p.send(id, JSON.stringify({ a: 1 }), { type: 'json' }),
    p.send(id, Buffer.from([1, 2, 3]), { type: 'msgpack' }),
    p.send(id, new Uint8Array([9, 8]), { type: lnc.RecordType.protobuf }),
    p.send(id, 'v', { key: 'k' }),
    p.send(id, 'tv', { timestamp: ts }),
    p.send(id, 'ktv', { key: Buffer.from('kk'), timestamp: when }),
    p.send(id, null, { type: 'tombstone' }),
    p.send(id, 'ext', { type: 'extended', extType: 0x1234 }),
    p.send(id, 'empty key', { key: '' }),
  ]);
  const recs = await consumeAll(config, id, 10);
  assert.equal(recs.length, 10);
  // Order within a topic is preserved.
  assert.deepEqual(recs.map((r) => r.typeName), ['raw', 'json', 'msgpack', 'protobuf', 'keyValue', 'timestamped',
    'keyTimestamped', 'tombstone', 'extended', 'keyValue']);
  assert.equal(recs[0].text(), 'raw text');
  assert.deepEqual(recs[1].json(), { a: 1 });
  assert.deepEqual([...recs[2].value], [1, 2, 3]);
  assert.deepEqual([...recs[3].value], [9, 8]);
  assert.equal(recs[4].key.toString(), 'k');
  assert.equal(recs[4].text(), 'v');
  assert.equal(recs[5].timestamp, ts);
  assert.equal(recs[5].key, null);
  assert.equal(recs[6].timestamp, 1700000000000n * 1000000n);
  assert.equal(recs[6].key.toString(), 'kk');
  assert.equal(recs[7].isTombstone, true);
  assert.equal(recs[7].value.length, 0);
  assert.equal(recs[8].extType, 0x1234);
  assert.equal(recs[8].text(), 'ext');
  assert.equal(recs[9].key.length, 0);
  for (let i = 1; i < recs.length; i++) assert.ok(recs[i].offset > recs[i - 1].offset);
});

test('produce() is fire-and-forget with delivery events carrying the opaque', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const seen = [];
  p.on('delivery', (r) => seen.push(r));
  for (let i = 0; i < 2000; i++) p.produce(id, `v${i}`, i % 2 ? { opaque: { i } } : undefined);
  assert.equal(p.outstanding, 2000);
  await p.flush();
  assert.equal(p.outstanding, 0);
  assert.equal(seen.length, 2000);
  assert.ok(seen.every((r) => r.error === null && r.topicId === id));
  const opaques = seen.filter((r) => r.opaque !== undefined).map((r) => r.opaque.i);
  assert.equal(opaques.length, 1000);
  assert.ok(opaques.every((i) => i % 2 === 1));
  const m = p.metrics();
  assert.equal(m.recordsAcked, 2000);
  assert.equal(m.outstandingRecords, 0);
});

test('unknown topics: name lookup fails (topic.auto.create=false), id rejected by the server', async (t) => {
  const { config } = await withMock(t);
  const p = new lnc.Producer({ ...config, 'delivery.timeout.ms': 5000, 'topic.auto.create': false });
  t.after(() => p.close().catch(() => {}));
  await assert.rejects(p.send('no-such-topic', 'x'), (e) => e instanceof lnc.UnknownTopicError && e.code === 'UNKNOWN_TOPIC' && !e.retryable);
  await assert.rejects(p.send(4242, 'x'), (e) => e instanceof lnc.ServerError && e.code === 'UNKNOWN_TOPIC');
  // Fire-and-forget failures come as 'delivery' reports with the error set (never 'error' events).
  const errors = [];
  p.on('error', (e) => assert.fail(`unexpected 'error' event: ${e}`));
  p.on('delivery', (r) => errors.push(r.error));
  p.produce(4242, 'b');
  await assert.rejects(p.flush(), (e) => e instanceof lnc.DeliveryFailedError && e.code === 'DELIVERY_FAILED');
  assert.equal(errors.length, 1);
  assert.ok(errors.every((e) => e.code === 'UNKNOWN_TOPIC' && e instanceof lnc.UnknownTopicError));
  // A name liblnc refuses is never accepted: no report, the next flush() rejects with the refusal.
  p.produce('still-no-such-topic', 'a');
  await assert.rejects(p.flush(), (e) => e instanceof lnc.UnknownTopicError);
  assert.equal(errors.length, 1);
});

test('argument, size and config errors are thrown synchronously', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  assert.throws(() => new lnc.Producer({ ...config, 'no.such.key': 1 }), (e) => e instanceof lnc.ConfigError && e.code === 'UNKNOWN_KEY');
  assert.throws(() => new lnc.Producer({ ...config, lingerMs: -1 }), (e) => e instanceof lnc.ConfigError && e.code === 'INVALID_VALUE' && /linger\.ms/.test(e.message));
  const p = new lnc.Producer({ ...config, maxFrameBytes: 2048, batchSize: 1024 });
  t.after(() => p.close());
  assert.throws(() => p.produce(id, Buffer.alloc(4000)), (e) => e instanceof lnc.MessageTooLargeError && e.code === 'MSG_TOO_LARGE');
  assert.throws(() => p.produce(id, 'x', { type: 'json', key: 'k' }), (e) => e instanceof lnc.InvalidArgumentError && e.code === 'INVALID_ARG');
  assert.throws(() => p.produce(id, 12345), TypeError);
  assert.throws(() => p.produce(id, 'x', { type: 'nope' }), RangeError);
  await assert.rejects(p.send(id, 'x', { type: 'json', key: 'k' }), lnc.InvalidArgumentError);
  assert.equal(p.outstanding, 0);
});

test('a full buffer: produce() throws QueueFullError, send() waits for room', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'buffer.memory': 4096, 'batch.size': 1024 });
  t.after(() => p.close());
  mock.stallReading(true);
  let full = null;
  let accepted = 0;
  for (let i = 0; i < 1000 && !full; i++) {
    try {
      p.produce(id, Buffer.alloc(200));
      accepted++;
    } catch (e) {
      full = e;
    }
  }
  assert.ok(full instanceof lnc.QueueFullError, `expected QueueFullError, got ${full}`);
  assert.equal(full.code, 'QUEUE_FULL');
  const pending = p.send(id, 'waits for room');
  setTimeout(() => mock.stallReading(false), 200);
  await once(p, 'drain');
  const r = await pending;
  assert.equal(r.error, null);
  await p.flush();
  assert.equal(p.metrics().recordsAcked, accepted + 1);
});

test('close() with pending records reports every one of them', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  let ok = 0;
  let failed = 0;
  const codes = new Set();
  p.on('delivery', (r) => (r.error ? failed++ : ok++));
  p.on('delivery', (r) => r.error && codes.add(r.error.code));
  mock.stallReading(true); // nothing is acknowledged any more
  const N = 5000;
  for (let i = 0; i < N; i++) p.produce(id, `r${i}`);
  const sends = [p.send(id, 'a'), p.send(id, 'b')].map((s) => s.then(() => 'ok', (e) => e.code));
  await p.close(300).catch((e) => assert.equal(e.code, 'DELIVERY_FAILED'));
  assert.equal(ok + failed, N + 2, 'every record got exactly one report');
  assert.equal(p.outstanding, 0);
  assert.ok(failed > 0);
  for (const c of codes) assert.ok(['PURGED', 'UNKNOWN_OUTCOME', 'TIMED_OUT'].includes(c), c);
  const s = await Promise.all(sends);
  assert.ok(s.every((x) => ['ok', 'PURGED', 'UNKNOWN_OUTCOME', 'TIMED_OUT'].includes(x)), String(s));
  mock.stallReading(false);
  assert.throws(() => p.produce(id, 'late'), lnc.ClosedError);
  await assert.rejects(p.send(id, 'late'), (e) => e.code === 'CLOSED');
  await p.close(); // idempotent: resolves (the failure went to the first call)
  // The native producer is freed at close: calls reject with ClosedError, counters keep their final values.
  await assert.rejects(p.flush(), lnc.ClosedError);
  await assert.rejects(p.topicId('x'), lnc.ClosedError);
  await assert.rejects(p.sendBatch(id, ['late']), lnc.ClosedError);
  assert.equal(p.metrics().recordsAcked + p.metrics().recordsFailed, N + 2);
  assert.equal(p.purge(), 0);
});

test('purge() fails unsent records with PURGED', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'linger.ms': 60000, 'batch.size': 1 << 20 });
  t.after(() => p.close());
  const results = [];
  for (let i = 0; i < 10; i++) results.push(p.send(id, `x${i}`).catch((e) => e));
  assert.equal(p.purge(), 10);
  const rs = await Promise.all(results);
  assert.ok(rs.every((e) => e instanceof lnc.DeliveryError && e.code === 'PURGED'));
});

test('retryable server errors and redirects are handled inside liblnc', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'retry.backoff.ms': 5 });
  t.after(() => p.close());
  mock.failNextIngests(3, 'FORWARD_FAILED: quorum timeout');
  assert.equal((await p.send(id, 'ff')).error, null);
  mock.failNextIngests(1, `NOT_LEADER: redirect to ${mock.address}`);
  assert.equal((await p.send(id, 'nl')).error, null);
  assert.ok(p.metrics().batchesRetried >= 3);
});

test('authentication: AUTH_REQUIRED without a token, accepted with it', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  mock.requireToken('s3cret');
  const bad = new lnc.Producer({ ...config, 'delivery.timeout.ms': 3000 });
  await assert.rejects(bad.send(id, 'x'), (e) => e instanceof lnc.AuthError && e.code === 'AUTH_REQUIRED');
  await bad.close();
  const good = new lnc.Producer({ ...config, 'auth.token': 's3cret' });
  assert.equal((await good.send(id, 'x')).error, null);
  await good.close();
});
