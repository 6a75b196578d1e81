'use strict';
// TLS through stunnel4 (client certificates demanded) in front of a plaintext mock, and the
// mock's own TLS listener, from `lnc tls-fixture`. Without the lnc binary or stunnel the tests
// are skipped with the reason, except under CI=true, where that is a failure.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { lnc, topicName } = require('../support/helpers');

const inCI = ['1', 'true'].includes(String(process.env.CI || '').toLowerCase());

function unavailable(t, why) {
  if (inCI) throw new Error(`TLS environment unavailable under CI=true: ${why}`);
  t.skip(`SKIPPED: ${why}`);
  return null;
}

/** Starts `lnc tls-fixture`; resolves with its JSON line (null when skipped). */
async function tlsEnv(t) {
  try {
    await new lnc.Admin({ 'bootstrap.servers': '127.0.0.1:1', 'security.protocol': 'tls' }).close();
  } catch (e) {
    return unavailable(t, `liblnc built without TLS: ${e.message}`);
  }
  const exe = process.env.LNC_BIN || path.resolve(__dirname, '../../../target/release/lnc');
  if (!fs.existsSync(exe)) return unavailable(t, `${exe} not found (cargo build --release --features tls --bin lnc)`);
  const child = spawn(exe, ['tls-fixture'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => new Promise((resolve) => {
    child.once('exit', resolve);
    child.stdin.end(); // the fixture stops when its stdin closes
    setTimeout(() => child.kill(), 15000).unref();
  }));
  const rl = readline.createInterface({ input: child.stdout });
  const line = await new Promise((resolve) => {
    rl.once('line', resolve);
    child.once('exit', () => resolve(null));
  });
  rl.close();
  if (!line) return unavailable(t, 'lnc tls-fixture printed nothing');
  return JSON.parse(line);
}

function tlsConfig(env, addr, extra = {}) {
  return {
    'bootstrap.servers': addr,
    'security.protocol': 'tls',
    'tls.ca.location': env.ca,
    'tls.certificate.location': env.cert,
    'tls.key.location': env.key,
    'request.timeout.ms': 10000,
    ...extra,
  };
}

async function roundTrip(env, addr) {
  const config = tlsConfig(env, addr);
  const admin = new lnc.Admin(config);
  const topic = await admin.ensureTopic(topicName('node-tls'));
  assert.ok((await admin.ping()) > 0);
  await admin.close();
  const n = 200;
  const producer = new lnc.Producer({ ...config, 'linger.ms': 1 });
  const sends = [];
  for (let i = 0; i < n; i++) sends.push(producer.send(topic.id, `node tls record ${i}`));
  await Promise.all(sends);
  await producer.close();
  const consumer = new lnc.Consumer({ ...config, 'topic.id': topic.id, 'start.offset': 'beginning' });
  const got = [];
  const deadline = Date.now() + 20000;
  while (got.length < n && Date.now() < deadline) got.push(...(await consumer.poll(500)));
  await consumer.close();
  assert.deepEqual(got.map((r) => r.text()), Array.from({ length: n }, (_, i) => `node tls record ${i}`));
}

test('TLS round trip through stunnel and the TLS mock, with client certificates', async (t) => {
  const env = await tlsEnv(t);
  if (!env) return;
  await roundTrip(env, env.stunnel);
  await roundTrip(env, env.tls_mock);
});

test('TLS handshake failures are TlsError with a clear message', async (t) => {
  const env = await tlsEnv(t);
  if (!env) return;
  const cases = [
    ['wrong CA', { 'tls.ca.location': env.other_ca }, 'unknown issuer'],
    ['wrong server name', { 'tls.server.name': 'wrong.example' }, 'server name mismatch'],
    ['missing client certificate', { 'tls.certificate.location': undefined, 'tls.key.location': undefined }, 'client certificate'],
  ];
  for (const [name, extra, needle] of cases) {
    const admin = new lnc.Admin(tlsConfig(env, env.stunnel, extra));
    await assert.rejects(admin.listTopics(), (e) => {
      assert.ok(e instanceof lnc.TlsError, `${name}: ${e}`);
      assert.equal(e.code, 'TLS');
      assert.equal(e.retryable, false);
      assert.match(e.message, new RegExp(needle), name);
      return true;
    });
    await admin.close();
  }
});

test('a TLS key with plaintext is refused', () => {
  assert.throws(() => new lnc.Producer({ 'bootstrap.servers': '127.0.0.1:1', 'tls.ca.location': '/tmp/ca.pem' }),
    (e) => e instanceof lnc.ConfigError && /security\.protocol/.test(e.message));
});
