'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { lnc, topicName, withMock } = require('../support/helpers');

async function fill(config, id, n, prefix = 'm') {
  const p = new lnc.Producer(config);
  for (let i = 0; i < n; i++) p.produce(id, `${prefix}${i}`);
  await p.close();
}

test('for await iterates records in order and ends on close()', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 3000);
  const c = new lnc.Consumer({ ...config, 'topic.id': id, 'start.offset': 'beginning' });
  const got = [];
  const done = (async () => {
    for await (const r of c) {
      got.push(r.text());
      if (got.length === 3000) setImmediate(() => c.close());
    }
  })();
  await done; // the loop ends by itself once the consumer is closed
  assert.equal(got.length, 3000);
  assert.ok(got.every((v, i) => v === `m${i}`));
  assert.equal(c.closed, true);
});

test('iteration waits for new records (live tail)', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'end' });
  t.after(() => c.close());
  assert.equal(c.topicId, id);
  setTimeout(() => fill(config, id, 5, 'late'), 100);
  const got = [];
  for await (const r of c) {
    got.push(r.text());
    if (got.length === 5) break; // break leaves the consumer open
  }
  assert.deepEqual(got, ['late0', 'late1', 'late2', 'late3', 'late4']);
  assert.equal(c.closed, false);
});

test('poll() returns [] after its timeout when there is nothing', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const c = new lnc.Consumer({ ...config, 'topic.id': id });
  t.after(() => c.close());
  const t0 = Date.now();
  assert.deepEqual(await c.poll(200), []);
  assert.ok(Date.now() - t0 >= 190);
  assert.deepEqual(await c.poll(0), []);
});

test('seek, position, lag', async (t) => {
  const { mock, config } = await withMock(t);
  const name = topicName();
  const id = mock.createTopic(name);
  await fill(config, id, 100);
  const c = new lnc.Consumer({ ...config, topic: name, 'start.offset': 'beginning', 'max.poll.records': 10 });
  t.after(() => c.close());
  const first = await c.poll(2000);
  assert.equal(first.length, 10);
  assert.equal(c.position() > first[9].offset, true);
  const size = mock.topicSize(id);
  assert.equal(await c.lag(), size - c.position());
  assert.equal(await c.seek('end'), size);
  assert.equal(await c.lag(), 0n);
  const target = first[5].offset;
  assert.equal(await c.seek(target), target);
  const again = await c.poll(2000);
  assert.equal(again[0].text(), 'm5');
  assert.equal(await c.seek('beginning'), 0n);
  assert.equal((await c.poll(2000))[0].text(), 'm0');
  await assert.rejects(c.seek('middle'), RangeError);
});

test('commit() stores the position; a new consumer resumes there', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 50);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lnc-node-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cc = { ...config, 'topic.id': id, 'offset.dir': dir, 'consumer.name': 'worker-1', 'enable.auto.commit': false, 'max.poll.records': 20 };
  const c1 = new lnc.Consumer(cc);
  const batch = await c1.poll(2000);
  assert.equal(batch.length, 20);
  const committed = await c1.commit();
  assert.equal(committed, c1.position());
  await c1.close();
  // The file store is the official Rust client's layout: <dir>/<name>/topic-<id>-consumer-<sipHash>.offset
  const file = path.join(dir, 'worker-1', `topic-${id}-consumer-${lnc.consumerId('worker-1')}.offset`);
  assert.equal(fs.readFileSync(file, 'utf8').trim(), String(committed));
  const c2 = new lnc.Consumer(cc);
  t.after(() => c2.close());
  const next = await c2.poll(2000);
  assert.equal(next[0].text(), 'm20');
});

test('consumer errors: unknown topic, offset out of range', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 3);
  const c = new lnc.Consumer({ ...config, topic: 'does-not-exist' });
  await assert.rejects(c.ready, (e) => e instanceof lnc.UnknownTopicError && e.code === 'UNKNOWN_TOPIC');
  await assert.rejects(c.poll(), lnc.UnknownTopicError);
  await c.close();
  const c2 = new lnc.Consumer({ ...config, 'topic.id': id, 'start.offset': 1000000, 'catching.up.retries': 1, 'fetch.max.wait.ms': 10 });
  t.after(() => c2.close());
  await assert.rejects(c2.poll(5000), (e) => {
    assert.ok(e instanceof lnc.OffsetOutOfRangeError);
    assert.equal(e.code, 'OFFSET_OUT_OF_RANGE');
    assert.equal(e.serverOffset, mock.topicSize(id));
    return true;
  });
  assert.equal(await c2.seek('beginning'), 0n);
  assert.equal((await c2.poll(2000)).length, 3);
});

test('poll() after close() returns [] and iteration ends', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const c = new lnc.Consumer({ ...config, 'topic.id': id });
  await c.ready;
  const it = c[Symbol.asyncIterator]();
  const next = it.next();
  await c.close();
  assert.deepEqual(await next, { value: undefined, done: true });
  assert.deepEqual(await c.poll(100), []);
});
