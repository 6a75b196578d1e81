'use strict';
// Package test (scripts/test-packages.sh): run from a directory where the npm tarball was
// installed (require('lnc') resolves to node_modules/lnc). Produces N records to a fresh topic
// on the broker at argv[2], consumes them back from the beginning, and checks every value and
// the order.
const path = require('node:path');
const { Producer, Consumer, Admin } = require('lnc');

const N = 1000;

async function main() {
  const [addr, name] = process.argv.slice(2);
  const resolved = require.resolve('lnc');
  if (!resolved.includes(`${path.sep}node_modules${path.sep}lnc${path.sep}`)) {
    throw new Error(`lnc resolved to ${resolved}, not the installed package`);
  }
  const config = { 'bootstrap.servers': addr };
  const admin = new Admin(config);
  const topic = await admin.ensureTopic(name);
  await admin.close();

  const producer = new Producer(config);
  const acks = [];
  for (let i = 0; i < N; i++) acks.push(producer.send(topic.id, `node-${i}`));
  await producer.flush(30000);
  await Promise.all(acks); // rejects with the first record that was not acknowledged
  await producer.close();

  const consumer = new Consumer({ ...config, 'topic.id': topic.id, 'start.offset': 'beginning' });
  let got = 0;
  for (let polls = 0; polls < 200 && got < N; polls++) {
    for (const record of await consumer.poll(100)) {
      if (got >= N || record.text() !== `node-${got}`) {
        throw new Error(`record ${got} is ${JSON.stringify(record.text())}, want node-${got}`);
      }
      got++;
    }
  }
  await consumer.close();
  if (got !== N) throw new Error(`only ${got}/${N} records consumed`);
  console.log(`node: ${N}/${N} records produced, acked and consumed in order (addon ${require.resolve('lnc')})`);
}

main().catch((e) => {
  console.error('node roundtrip:', e);
  process.exit(1);
});
