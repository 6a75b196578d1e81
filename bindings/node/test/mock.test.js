'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc, topicName, withMock, consumeAll } = require('../support/helpers');

test('mock broker: settings, address, topics, stats, stop', async () => {
  assert.throws(() => new lnc.MockBroker({ 'ack.delay.ms': 'soon' }), (e) => e instanceof lnc.ConfigError && e.code === 'INVALID_VALUE');
  const mock = new lnc.MockBroker({ 'ack.delay.ms': 0 });
  assert.match(mock.address, /^127\.0\.0\.1:\d+$/);
  assert.equal(mock.address.endsWith(`:${mock.port}`), true);
  const name = topicName();
  const id = mock.createTopic(name);
  assert.throws(() => mock.createTopic(name), (e) => e.code === 'TOPIC_EXISTS');
  assert.throws(() => mock.createTopic('no spaces'), (e) => e.code === 'INVALID_NAME');
  assert.throws(() => mock.topicSize(999), (e) => e.code === 'UNKNOWN_TOPIC');
  const p = new lnc.Producer({ 'bootstrap.servers': mock.address });
  await p.send(id, 'x');
  await p.close();
  const s = mock.stats();
  assert.ok(s.connectionsAccepted >= 1);
  assert.ok(s.ingestsStored >= 1 && s.acksSent >= 1);
  assert.equal(mock.topicSize(id), BigInt(s.bytesStored));
  await mock.stop();
  await mock.stop(); // idempotent
});

test('mock broker: fault controls (drops, delays, stalls, restart, truncation, rate limit)', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  const p = new lnc.Producer({ ...config, 'retry.backoff.ms': 5, 'reconnect.backoff.ms': 5 });
  t.after(() => p.close());
  mock.setAckDelayMs(0);
  mock.dropAfterFrames(2);
  await Promise.all([1, 2, 3, 4].map((i) => p.send(id, `a${i}`)));
  mock.dropAfterBytes(100);
  await p.send(id, 'b'.repeat(200));
  mock.disconnectAll();
  await p.send(id, 'c');
  mock.dropNextAcks(1); // stored but never acked: liblnc times out and resends
  mock.setAckDelayMs(1);
  mock.stallReading(true);
  setTimeout(() => mock.stallReading(false), 50);
  await p.send(id, 'd');
  mock.setWriteOnly(true);
  mock.setWriteOnly(false);
  await mock.restart(); // keeps data, cuts connections
  await p.send(id, 'e');
  const before = mock.topicSize(id);
  assert.ok(before > 0);
  assert.ok(mock.stats().connectionsAccepted >= 3);
  mock.forceCatchingUp(2);
  mock.setFetchRateLimit(1 << 30);
  const recs = await consumeAll(config, id, 8);
  assert.ok(recs.length >= 8, `got ${recs.length}`);
  mock.setFetchRateLimit(0);
  mock.truncateFront(id, recs[1].offset);
  assert.equal(mock.topicSize(id), before - recs[1].offset);
  mock.failNextRequests(1, 'Rate limit exceeded');
  mock.requireToken('x');
  mock.requireToken(null);
}, { timeout: 60000 });
