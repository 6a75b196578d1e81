'use strict';
const lnc = require('..');

let seq = 0;
/** A topic name unique within this process. */
function topicName(prefix = 't') {
  return `${prefix}-${process.pid}-${++seq}`;
}

/** A mock broker plus a base config pointing at it; `cleanup` stops it. */
async function withMock(t, settings = {}) {
  const mock = new lnc.MockBroker(settings);
  const config = { 'bootstrap.servers': mock.address, 'request.timeout.ms': 5000, 'connect.timeout.ms': 2000 };
  t.after(() => mock.stop());
  return { mock, config };
}

/** Reads a topic from the beginning until at least `n` records and (if given) the byte offset
 * `end` are reached, or timeoutMs passes. */
async function consumeAll(config, topicId, n, timeoutMs = 20000, end = 0) {
  const c = new lnc.Consumer({ ...config, 'topic.id': topicId, 'start.offset': 'beginning', 'max.poll.records': 5000 });
  const out = [];
  const deadline = Date.now() + timeoutMs;
  try {
    await c.ready;
    while ((out.length < n || c.position() < end) && Date.now() < deadline) out.push(...(await c.poll(500)));
  } finally {
    await c.close();
  }
  return out;
}

module.exports = { lnc, topicName, withMock, consumeAll };
