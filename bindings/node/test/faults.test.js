'use strict';
// Counting under faults: disconnects, FORWARD_FAILED and an unknown topic while producing
// 60,000 records. Every accepted record gets exactly one report (sent == acked + failed), and
// the acknowledged ones are all there when read back.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc, topicName, withMock, consumeAll } = require('../support/helpers');

test('fault injection: sent == acked + failed, consumed == acked', async (t) => {
  const { mock, config } = await withMock(t, { 'ack.delay.ms': 1 });
  const good = mock.createTopic(topicName('good'));
  const UNKNOWN = 777;
  const p = new lnc.Producer({
    ...config,
    'linger.ms': 2,
    'batch.size': 16384,
    'retry.backoff.ms': 5,
    'reconnect.backoff.ms': 5,
    'reconnect.backoff.max.ms': 50,
    'delivery.timeout.ms': 60000,
  });
  const N = 60000;
  const acked = new Set();
  let ackedCount = 0;
  let failedGood = 0;
  let failedUnknown = 0;
  const otherFailures = [];
  p.on('delivery', (r) => {
    if (r.error === null) {
      ackedCount++;
      if (r.topicId === good) acked.add(r.opaque);
      return;
    }
    if (r.topicId === UNKNOWN && r.error.code === 'UNKNOWN_TOPIC') failedUnknown++;
    else if (r.topicId === good) failedGood++;
    else otherFailures.push(r.error);
  });
  let sent = 0;
  let sentUnknown = 0;
  for (let i = 0; i < N; i++) {
    if (i % 100 === 99) {
      p.produce(UNKNOWN, `u${i}`);
      sentUnknown++;
    } else {
      p.produce(good, `g${i}`, { opaque: i });
    }
    sent++;
    if (i % 5000 === 2500) mock.disconnectAll();
    if (i % 5000 === 1000) mock.failNextIngests(3, 'FORWARD_FAILED: leader unreachable');
    if (i % 10000 === 4000) mock.dropAfterFrames(5);
    if (i % 2000 === 1999) await new Promise((r) => setTimeout(r, 5)); // spread the faults over time
  }
  // Failed fire-and-forget records make flush() reject (DELIVERY_FAILED) once liblnc reports them.
  await p.flush().catch((e) => assert.equal(e.code, 'DELIVERY_FAILED'));
  const m = p.metrics();
  await p.close().catch((e) => assert.equal(e.code, 'DELIVERY_FAILED'));
  t.diagnostic(`sent ${sent}: acked ${ackedCount}, failed ${failedGood + failedUnknown} (unknown topic ${failedUnknown}), ` +
    `disconnects ${m.disconnects}, retried batches ${m.batchesRetried}, possible duplicates ${m.possibleDuplicates}`);
  assert.deepEqual(otherFailures, []);
  assert.equal(sent, ackedCount + failedGood + failedUnknown, 'every record reported exactly once');
  assert.equal(failedUnknown, sentUnknown);
  assert.equal(m.recordsAcked, ackedCount);
  assert.equal(m.recordsFailed, failedGood + failedUnknown);
  assert.ok(m.disconnects >= 5, `disconnects: ${m.disconnects}`);
  assert.ok(m.batchesRetried > 0);

  const recs = await consumeAll(config, good, acked.size, 30000, mock.topicSize(good));
  const seen = new Set(recs.map((r) => Number(r.text().slice(1))));
  t.diagnostic(`consumed ${recs.length} records, ${seen.size} distinct (${recs.length - seen.size} duplicates from resends)`);
  // At-least-once: resends after an unknown outcome may duplicate; every acked record is there
  // and nothing that was never sent appears.
  for (const i of acked) assert.ok(seen.has(i), `acked record ${i} missing`);
  assert.equal(seen.size, acked.size, 'distinct records consumed == records acked');
  assert.ok(recs.length - seen.size <= m.possibleDuplicates, 'duplicates only from possible-duplicate resends');
}, { timeout: 90000 });
