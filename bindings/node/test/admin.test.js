'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc, topicName, withMock } = require('../support/helpers');

test('topics: create, exists, ensure, find, get, list, delete', async (t) => {
  const { config } = await withMock(t);
  const a = new lnc.Admin(config);
  const name = topicName();
  const created = await a.createTopic(name);
  assert.equal(created.name, name);
  assert.ok(created.id > 0);
  assert.equal(created.retention, null);
  await assert.rejects(a.createTopic(name), (e) => e instanceof lnc.TopicExistsError && e.code === 'TOPIC_EXISTS');
  assert.equal((await a.ensureTopic(name)).id, created.id);
  assert.equal((await a.findTopic(name)).id, created.id);
  assert.equal((await a.getTopic(created.id)).name, name);
  assert.ok((await a.listTopics()).some((x) => x.id === created.id));
  await assert.rejects(a.createTopic('bad name!'), (e) => e instanceof lnc.InvalidNameError && e.code === 'INVALID_NAME');
  await a.deleteTopic(name);
  await assert.rejects(a.findTopic(name), lnc.UnknownTopicError);
  await a.close();
  await assert.rejects(a.ping(), lnc.ClosedError);
});

test('retention', async (t) => {
  const { config } = await withMock(t);
  const a = new lnc.Admin(config);
  const t1 = await a.createTopic(topicName(), { retention: { maxAgeSecs: 3600, maxBytes: 1 << 20 } });
  assert.deepEqual(t1.retention, { maxAgeSecs: 3600, maxBytes: 1 << 20 });
  const t2 = await a.createTopic(topicName(), { retention: { maxAgeSecs: 60 } });
  assert.equal(t2.retention.maxBytes, Infinity);
  await a.setRetention(t1.id, { maxAgeSecs: 7200 });
});

async function until(cond, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

test('close() frees the native handle: its connection closes, later calls reject, running calls finish', async (t) => {
  const { mock, config } = await withMock(t);
  const a = new lnc.Admin(config);
  await a.ping();
  assert.equal(mock.stats().connectionsOpen, 1);
  await a.close();
  assert.ok(await until(() => mock.stats().connectionsOpen === 0), 'the admin connection is closed by close()');
  await assert.rejects(a.listTopics(), (e) => e instanceof lnc.ClosedError && e.code === 'CLOSED');
  await a.close(); // idempotent

  // close() while calls run: they settle normally (each within its timeout), then the handle is freed.
  const b = new lnc.Admin(config);
  const running = [b.ping(), b.listTopics(), b.createTopic(topicName())];
  await b.close();
  const settled = await Promise.allSettled(running);
  assert.ok(settled.every((s) => s.status === 'fulfilled'), JSON.stringify(settled.map((s) => s.reason?.message)));
  assert.ok(await until(() => mock.stats().connectionsOpen === 0));
  // Calls racing close from the same tick never hang.
  const c = new lnc.Admin(config);
  const racing = [c.ping(), c.close(), c.ping(), c.close(), c.listTopics()];
  const r = await Promise.allSettled(racing);
  assert.equal(r[0].status, 'fulfilled');
  assert.ok(r[2].reason instanceof lnc.ClosedError && r[4].reason instanceof lnc.ClosedError);
});

test('producer.close() releases every connection, the one liblnc used to resolve names included', async (t) => {
  const { mock, config } = await withMock(t);
  const name = topicName();
  mock.createTopic(name);
  const p = new lnc.Producer(config);
  assert.equal((await p.send(name, 'x')).error, null);
  await p.close();
  assert.ok(await until(() => mock.stats().connectionsOpen === 0), `open: ${mock.stats().connectionsOpen}`);
});

test('cluster status, ping, authenticate', async (t) => {
  const { mock, config } = await withMock(t);
  const a = new lnc.Admin(config);
  const s = await a.clusterStatus();
  assert.equal(s.isStandalone, true);
  assert.equal(s.nodeCount, 1);
  const rtt = await a.ping();
  assert.ok(rtt >= 0 && rtt < 5e6);
  mock.requireToken('tok');
  await a.authenticate('tok');
  await assert.rejects(a.authenticate('wrong'), (e) => e instanceof lnc.AuthError && e.code === 'AUTH_FAILED');
});

test('raw fetch and server-side subscriptions', async (t) => {
  const { mock, config } = await withMock(t);
  const a = new lnc.Admin(config);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer(config);
  await p.send(id, 'abc');
  await p.close();
  const f = await a.fetch(id, 0, 65536);
  assert.equal(f.catchingUp, false);
  assert.equal(BigInt(f.data.length), mock.topicSize(id));
  assert.equal(f.nextOffset, BigInt(f.data.length));
  const tail = await a.fetch(id, f.nextOffset, 65536); // at the end: empty (or CatchingUp)
  assert.equal(tail.data.length, 0);
  if (tail.catchingUp) assert.equal(tail.endOffset, f.nextOffset);
  assert.equal(await a.subscribe(id, { consumerName: 'sub', startOffset: 0 }), 0n);
  await a.commitOffset(id, f.nextOffset, { consumerName: 'sub' });
  await a.unsubscribe(id, { consumerId: lnc.consumerId('sub') });
});

test('consumerId matches the official client (SipHash-1-3)', () => {
  assert.equal(lnc.consumerId('my-consumer'), 18044035401257023742n);
  assert.equal(lnc.consumerId('worker-1'), 16750551406947868958n);
  assert.equal(lnc.consumerId(''), 3476900567878811119n);
});

test('server error texts map to error classes and codes', async (t) => {
  const { mock, config } = await withMock(t);
  const a = new lnc.Admin(config);
  const cases = [
    ['Unknown topic', lnc.UnknownTopicError, 'UNKNOWN_TOPIC'],
    ['Topic name required', lnc.InvalidNameError, 'INVALID_NAME'],
    ['I/O error: disk full', lnc.ServerError, 'SERVER_ERROR'],
  ];
  for (const [text, cls, code] of cases) {
    mock.failNextRequests(1, text);
    await assert.rejects(a.listTopics(), (e) => {
      assert.ok(e instanceof cls, `${text}: ${e.name}`);
      assert.ok(e instanceof lnc.LncError);
      assert.equal(e.code, code);
      assert.equal(e.message, text); // the server's exact text is kept
      return true;
    });
  }
});

test('transport errors against a dead server', async () => {
  const a = new lnc.Admin({ 'bootstrap.servers': '127.0.0.1:1', 'connect.timeout.ms': 200, 'reconnect.backoff.ms': 10 });
  await assert.rejects(a.ping({ timeoutMs: 1000 }), (e) => e instanceof lnc.TransportError && e.code === 'TRANSPORT');
});

test('version', () => {
  assert.match(lnc.version(), /^\d+\.\d+\.\d+/);
});
