'use strict';
// Throughput benchmark against the embedded mock broker (or $LNC_BOOTSTRAP).
//   node bench.js [records=1000000] [valueBytes=100]
// Environment: LNC_BOOTSTRAP=host:port (a real server instead of the mock), ACK_DELAY_MS (mock
// durability delay, default 1), BATCH_SIZE (default 262144), LINGER_MS (default 5).
// Prints produce records/s (fire-and-forget produce() from one JS thread, every record
// acknowledged before the clock stops) and consume records/s (async iteration).
const { performance } = require('node:perf_hooks');
const { Producer, Consumer, Admin, MockBroker, QueueFullError } = require('.');

const N = Number(process.argv[2] || 1000000);
const SIZE = Number(process.argv[3] || 100);

async function main() {
  const mock = process.env.LNC_BOOTSTRAP ? null : new MockBroker({ 'ack.delay.ms': Number(process.env.ACK_DELAY_MS ?? 1) });
  const servers = process.env.LNC_BOOTSTRAP || mock.address;
  const admin = new Admin({ 'bootstrap.servers': servers });
  const topic = await admin.ensureTopic(`bench-${process.pid}-${Date.now()}`);

  const producer = new Producer({
    'bootstrap.servers': servers,
    'linger.ms': Number(process.env.LINGER_MS ?? 5),
    'batch.size': Number(process.env.BATCH_SIZE ?? 262144),
    'buffer.memory': 256 * 1024 * 1024,
    'max.in.flight': 32,
  });
  const value = Buffer.alloc(SIZE, 'x');
  const t0 = performance.now();
  let full = 0;
  for (let i = 0; i < N; ) {
    try {
      producer.produce(topic.id, value);
      i++;
    } catch (e) {
      if (!(e instanceof QueueFullError)) throw e;
      full++;
      await new Promise((r) => producer.once('drain', r));
    }
    if ((i & 0xffff) === 0) await new Promise(setImmediate); // let reports in
  }
  const tSent = performance.now();
  await producer.flush().catch((e) => console.error(`flush: ${e.message}`)); // DELIVERY_FAILED if any failed
  const t1 = performance.now();
  const m = producer.metrics();
  const failed = m.recordsFailed;
  await producer.close();
  const secs = (t1 - t0) / 1000;
  console.log(`produce: ${N} records x ${SIZE} B in ${secs.toFixed(3)} s = ${Math.round(N / secs).toLocaleString('en-US')} records/s` +
    ` (${((N * SIZE) / secs / 1e6).toFixed(1)} MB/s payload; produce() calls took ${((tSent - t0) / 1000).toFixed(3)} s;` +
    ` acked ${m.recordsAcked}, failed ${failed}, queue-full waits ${full}, ack p50 ${m.ackLatencyP50Us} us)`);

  const consumer = new Consumer({
    'bootstrap.servers': servers,
    'topic.id': topic.id,
    'start.offset': 'beginning',
    'max.poll.records': 10000,
    'fetch.max.bytes': 4 * 1024 * 1024,
  });
  await consumer.ready;
  const c0 = performance.now();
  let got = 0;
  let bytes = 0;
  for await (const r of consumer) {
    bytes += r.value.length;
    if (++got === N) break;
  }
  const c1 = performance.now();
  await consumer.close();
  const csecs = (c1 - c0) / 1000;
  console.log(`consume: ${got} records in ${csecs.toFixed(3)} s = ${Math.round(got / csecs).toLocaleString('en-US')} records/s (${(bytes / csecs / 1e6).toFixed(1)} MB/s payload)`);
  if (mock) await mock.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
