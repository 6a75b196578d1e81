// A typed tour of the API; `npm run typecheck` (tsc --noEmit) checks it against index.d.ts.
// Run it with a TypeScript runner, or read it as documentation.
import {
  Admin, CircuitOpenError, ClientEvent, ClosedError, Consumer, ConsumerMetrics, GroupConsumer, Statistics, ConsumerRecord, DeliveryReport, LncError, MockBroker, OffsetStore, Producer, QueueFullError,
  ProducerConfig, RecordType, TlsError, Topic, UnknownTopicError, consumerId, version,
} from '..';

/** TLS with client certificates (liblnc built with the cargo feature tls). */
export function tlsConfig(): ProducerConfig {
  return {
    'bootstrap.servers': '10.0.0.7:1992',
    'security.protocol': 'tls',
    'tls.ca.location': '/etc/lance/ca.pem',
    'tls.certificate.location': '/etc/lance/client.pem',
    'tls.key.location': '/etc/lance/client.key',
    'tls.server.name': 'lance.internal',
    'tls.verify': true,
  };
}

export function isHandshakeFailure(e: unknown): boolean {
  return e instanceof TlsError && e.code === 'TLS';
}

async function main(): Promise<void> {
  console.log(`liblnc ${version()}`);
  const mock = new MockBroker({ 'ack.delay.ms': 1 });
  const config = { 'bootstrap.servers': mock.address };

  const admin = new Admin(config);
  const topic: Topic = await admin.ensureTopic('orders');
  const rtt: number = await admin.ping({ timeoutMs: 1000 });
  console.log(`topic ${topic.id}, rtt ${rtt} ms, standalone ${(await admin.clusterStatus()).isStandalone}`);

  const producer = new Producer({ ...config, lingerMs: 2, 'max.in.flight': 8 });
  producer.on('delivery', (r: DeliveryReport) => {
    if (r.error) console.error(`record ${String(r.opaque)} failed: ${r.error.code}`);
  });

  const report = await producer.send('orders', JSON.stringify({ id: 1 }), { type: 'json' });
  const batchId: bigint = report.batchId;
  console.log(`acked in batch ${batchId}`);
  const reports: DeliveryReport[] = await producer.sendBatch('orders', ['a', Buffer.from('b'), { value: 'c', key: 'k' }]);
  console.log(reports.map((x) => x.batchId));
  await producer.send(topic.id, Buffer.from('payload'), { key: 'customer-7', timestamp: new Date() });
  const ac = new AbortController();
  await producer.send('orders', 'waits up to 500 ms for space', { timeoutMs: 500, signal: ac.signal });
  const ordersId: number = await producer.topicId('orders', { timeoutMs: 1000 });
  console.log(ordersId);
  await producer.send(topic.id, null, { type: 'tombstone', key: 'customer-7' }).catch((e: LncError) => e.code);
  for (let i = 0; i < 1000; i++) {
    try {
      producer.produce(topic.id, `event ${i}`, { opaque: i, type: RecordType.raw, timestamp: 1_700_000_000_000n * 1_000_000n });
    } catch (e) {
      if (e instanceof QueueFullError) await new Promise<void>((r) => producer.once('drain', r));
      else throw e;
    }
  }
  await producer.flush(10_000);
  console.log(producer.metrics().recordsAcked);
  await producer.close();

  try {
    await admin.findTopic('missing');
  } catch (e) {
    if (e instanceof UnknownTopicError) console.log(e.code, e.retryable, e.serverOffset, e.leaderAddr);
  }

  const consumer = new Consumer({ ...config, topic: 'orders', 'start.offset': 'beginning', 'consumer.name': 'typed' });
  await consumer.ready;
  let n = 0;
  for await (const rec of consumer) {
    const r: ConsumerRecord = rec;
    const ts: bigint | null = r.timestamp;
    console.log(r.offset, r.typeName, r.key?.toString(), r.isTombstone ? '(tombstone)' : r.text(), ts);
    if (++n === 3) break;
  }
  const batch: ConsumerRecord[] = await consumer.poll(100);
  const pos: bigint = await consumer.seek('beginning');
  console.log(batch.length, pos, await consumer.lag(), consumer.position(), await consumer.commit());
  await consumer.close();
  await consumer.poll().catch((e) => e instanceof ClosedError);

  const saved = new Map<number, bigint>();
  const store: OffsetStore = {
    load: (topicId) => saved.get(topicId),
    save: async (topicId, offset) => {
      saved.set(topicId, offset);
    },
  };
  const stored = await Consumer.create({ ...config, topic: 'orders' }, { offsetStore: store, timeoutMs: 5000 });
  const lag: bigint = await stored.lag({ timeoutMs: 1000 });
  console.log(lag, stored.position());
  await stored.close();

  // Events, logs and statistics.
  const watched = new Producer({
    ...config,
    'statistics.interval.ms': 1000,
    'log.level': 'info',
    logger: (level, line) => console.error(`[${level}] ${line}`),
  });
  watched.on('disconnected', (e: ClientEvent) => console.log(`lost ${e.server}: ${e.code} ${e.message}`));
  watched.on('reconnectScheduled', (e) => console.log(`retry #${e.attempt} in ${e.delayMs} ms`));
  watched.on('statistics', (doc: Statistics) => console.log(doc.kind, doc.records_acked));
  watched.on('event', (e) => console.log(e.kind));
  try {
    watched.produce(topic.id, 'x');
  } catch (e) {
    if (e instanceof CircuitOpenError) console.log('server unreachable for a while');
  }
  console.log(watched.statistics().version);
  await watched.close();
  const watchedConsumer = await Consumer.create({ ...config, topic: 'orders' });
  watchedConsumer.on('connected', (e) => console.log(e.server));
  const m: ConsumerMetrics = watchedConsumer.metrics();
  console.log(m.lag, watchedConsumer.statistics().kind);
  await watchedConsumer.close();
  admin.on('circuitOpen', (e) => console.log(`admin circuit open for ${e.delayMs} ms`));

  // A consumer group: the members share the topics.
  const member = new GroupConsumer({ ...config, 'group.id': 'billing', 'group.topics': ['orders'] });
  member.on('assigned', (topics: number[]) => console.log('now own', topics));
  member.on('revoked', (topics) => console.log('gave up', topics));
  await member.ready;
  for (const r of await member.poll(500)) console.log(member.memberId, r.topicId, r.text());
  console.log(member.assignment());
  await member.close();

  const id: bigint = consumerId('typed');
  await admin.subscribe(topic.id, { consumerId: id, startOffset: 0 });
  mock.failNextIngests(2, 'FORWARD_FAILED: leader unreachable');
  mock.disconnectAll();
  console.log(mock.stats().ingestsStored, mock.topicSize(topic.id));
  await mock.stop();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
