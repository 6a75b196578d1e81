'use strict';
// sendBatch (lnc_producer_send_batch: all records accepted or none) and byte-exact values.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc, topicName, withMock, consumeAll } = require('../support/helpers');

test('sendBatch() appends every record in order and resolves with one report each', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const reports = await p.sendBatch(id, [
    'plain',
    Buffer.from('buffer'),
    { value: '{"a":1}', type: 'json' },
    { value: 'v', key: 'k' },
    { value: null, type: 'tombstone' },
  ]);
  assert.equal(reports.length, 5);
  assert.ok(reports.every((r) => r.error === null && r.topicId === id && typeof r.batchId === 'bigint'));
  assert.deepEqual(await p.sendBatch(id, []), []);
  const recs = await consumeAll(config, id, 5);
  assert.deepEqual(recs.map((r) => r.typeName), ['raw', 'raw', 'json', 'keyValue', 'tombstone']);
  assert.deepEqual(recs.slice(0, 4).map((r) => r.text()), ['plain', 'buffer', '{"a":1}', 'v']);
});

test('sendBatch() is all or none: a bad record rejects the whole batch and nothing is sent', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, maxFrameBytes: 4096, batchSize: 1024 });
  t.after(() => p.close());
  await assert.rejects(p.sendBatch(id, ['ok', Buffer.alloc(8000), 'ok too']), lnc.MessageTooLargeError);
  await assert.rejects(p.sendBatch(id, ['ok', 12345]), TypeError);
  await assert.rejects(p.sendBatch(id, 'not an array'), TypeError);
  assert.equal(p.outstanding, 0);
  await p.flush();
  assert.equal(p.metrics().recordsSent, 0);
  assert.equal(mock.topicSize(id), 0n);
  await p.close();
  await assert.rejects(p.sendBatch(id, ['late']), lnc.ClosedError);
});

test('sendBatch() rejects with the first failure, carrying every report', async (t) => {
  const { config } = await withMock(t);
  const p = new lnc.Producer({ ...config, 'delivery.timeout.ms': 5000 });
  t.after(() => p.close());
  await assert.rejects(p.sendBatch(4242, ['a', 'b']), (e) => {
    assert.equal(e.code, 'UNKNOWN_TOPIC');
    assert.equal(e.reports.length, 2);
    assert.ok(e.reports.every((r) => r.error && r.error.code === 'UNKNOWN_TOPIC'));
    return true;
  });
});

test('sendBatch() races send/produce/flush/close without losing or duplicating a report', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  let delivered = 0;
  p.on('delivery', () => delivered++);
  const ops = [];
  let accepted = 0;
  for (let i = 0; i < 50; i++) {
    ops.push(p.sendBatch(id, [`b${i}a`, `b${i}b`, `b${i}c`]).then(() => (accepted += 3)));
    ops.push(p.send(id, `s${i}`).then(() => accepted++));
    try {
      p.produce(id, `p${i}`);
      accepted++;
    } catch (e) {
      assert.ok(e instanceof lnc.ClosedError);
    }
    if (i === 25) ops.push(p.flush());
    if (i === 40) ops.push(p.close());
  }
  const rs = await Promise.allSettled(ops);
  for (const r of rs) if (r.status === 'rejected') assert.ok(r.reason instanceof lnc.LncError, String(r.reason));
  await p.close();
  assert.equal(delivered, accepted, 'one report per accepted record');
  assert.equal(p.outstanding, 0);
});

test('typed arrays, DataViews and Buffer slices send exactly their bytes (by id and by name)', async (t) => {
  const { mock, config } = await withMock(t);
  const name = topicName();
  const id = mock.createTopic(name);
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const backing = new ArrayBuffer(16);
  new Uint8Array(backing).forEach((_, i, a) => (a[i] = i + 1));
  const u16 = new Uint16Array(backing, 2, 3); // bytes 3..8
  const view = new DataView(backing, 5, 4); // bytes 6..9
  const slice = Buffer.from(backing).subarray(10, 13); // bytes 11..13
  const f64 = new Float64Array([1.5]);
  const expected = [
    [...new Uint8Array(backing, 2, 6)],
    [...new Uint8Array(backing, 5, 4)],
    [...new Uint8Array(backing, 10, 3)],
    [...new Uint8Array(f64.buffer)],
    [...new Uint8Array(backing)],
  ];
  const values = [u16, view, slice, f64, backing];
  for (const v of values) await p.send(id, v);
  for (const v of values) await p.send(name, v, { key: new Uint16Array([0x0102]) });
  await p.sendBatch(name, values);
  const recs = await consumeAll(config, id, values.length * 3);
  assert.equal(recs.length, values.length * 3);
  for (let round = 0; round < 3; round++) {
    recs.slice(round * values.length, (round + 1) * values.length).forEach((r, i) => {
      assert.deepEqual([...r.value], expected[i], `round ${round} value ${i}`);
      if (round === 1) assert.deepEqual([...r.key], [...new Uint8Array(new Uint16Array([0x0102]).buffer)]);
    });
  }
});

test('by name, the value is copied when produce() returns: later changes to the caller\'s array are not sent', async (t) => {
  const { mock, config } = await withMock(t);
  const name = topicName();
  const id = mock.createTopic(name);
  const p = new lnc.Producer(config);
  t.after(() => p.close());
  const u16 = new Uint16Array([0x0201, 0x0403]);
  const key = Buffer.from('key');
  // The first send resolves the name on the thread pool; the next two wait behind it in order.
  const pending = [p.send(name, u16), p.send(name, u16, { key }), p.sendBatch(name, [u16])];
  u16.fill(0xffff);
  key.fill(0);
  await Promise.all(pending);
  const recs = await consumeAll(config, id, 3);
  assert.deepEqual(recs.map((r) => [...r.value]), [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]);
  assert.equal(recs[1].key.toString(), 'key');
});
