'use strict';
// The process can exit while handles are open: idle producers, consumers, admins and mock
// brokers never keep the event loop alive; outstanding records do, until they are reported.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

function run(script, timeoutMs = 15000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const t0 = Date.now();
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0 });
    });
  });
}

test('a script with an open producer (and consumer, admin, mock) exits 0 without hanging', async () => {
  const r = await run(`
    const lnc = require('.');
    (async () => {
      const mock = new lnc.MockBroker();
      const config = { 'bootstrap.servers': mock.address };
      const id = mock.createTopic('exit-test');
      const producer = new lnc.Producer(config);
      await producer.send(id, 'one');
      const consumer = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning' });
      console.log('polled', (await consumer.poll(1000)).length);
      const admin = new lnc.Admin(config);
      await admin.ping();
      console.log('done; not closing anything');
    })();`);
  assert.equal(r.signal, null, `killed after ${r.ms} ms (hang); stderr: ${r.err}`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /polled 1/);
  assert.match(r.out, /done/);
});

test('outstanding produce() records keep the process alive until reported, then it exits 0', async () => {
  const r = await run(`
    const lnc = require('.');
    const mock = new lnc.MockBroker({ 'ack.delay.ms': 50 });
    const id = mock.createTopic('exit-pending');
    const producer = new lnc.Producer({ 'bootstrap.servers': mock.address });
    let n = 0;
    producer.on('delivery', (r) => { if (!r.error) n++; });
    for (let i = 0; i < 1000; i++) producer.produce(id, 'x' + i);
    process.on('exit', () => console.log('delivered', n));`);
  assert.equal(r.signal, null, `killed after ${r.ms} ms (hang); stderr: ${r.err}`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /delivered 1000/);
});

test('a producer created and never used does not keep the process alive', async () => {
  const r = await run(`
    const lnc = require('.');
    new lnc.Producer({ 'bootstrap.servers': '127.0.0.1:1' });
    console.log('ok');`);
  assert.equal(r.signal, null, `killed after ${r.ms} ms (hang)`);
  assert.equal(r.code, 0, r.err);
});
