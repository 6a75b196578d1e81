'use strict';
// Configuration is validated by liblnc at construction (lnc_conf_set), for every handle, with
// liblnc's own message: the binding validates nothing itself.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lnc } = require('../support/helpers');

const base = { 'bootstrap.servers': '127.0.0.1:9' };

function configError(code, ...fragments) {
  return (e) => {
    assert.ok(e instanceof lnc.ConfigError, `expected ConfigError, got ${e && e.stack}`);
    assert.equal(e.code, code);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention ${f}`);
    return true;
  };
}

const makers = {
  Producer: (c) => new lnc.Producer(c),
  Consumer: (c) => new lnc.Consumer(typeof c === 'object' && !Array.isArray(c) ? { topic: 'x', ...c } : c),
  Admin: (c) => new lnc.Admin(c),
};

for (const [name, make] of Object.entries(makers)) {
  test(`${name}: unknown keys and bad values throw ConfigError synchronously with liblnc's message`, () => {
    assert.throws(() => make({ ...base, 'no.such.key': 1 }), configError('UNKNOWN_KEY', 'no.such.key'));
    assert.throws(() => make({ ...base, noSuchKey: 1 }), configError('UNKNOWN_KEY', 'no.such.key'));
    assert.throws(() => make({ ...base, 'request.timeout.ms': -5 }), configError('INVALID_VALUE', 'request.timeout.ms', '-5'));
    assert.throws(() => make({ ...base, 'connect.timeout.ms': 'soon' }), configError('INVALID_VALUE', 'connect.timeout.ms', 'soon'));
    assert.throws(() => make({ ...base, checksum: 'md5' }), configError('INVALID_VALUE', 'checksum', 'md5'));
    assert.throws(() => make({ ...base, 'request.timeout.ms': {} }), configError('INVALID_VALUE', 'request.timeout.ms'));
    assert.throws(() => make('bootstrap.servers=x'), TypeError);
    assert.throws(() => make(['bootstrap.servers', 'x']), TypeError);
  });
}

test('role-specific values are checked too (producer, consumer, mock)', () => {
  assert.throws(() => new lnc.Producer({ ...base, 'send.block': 'maybe' }), configError('INVALID_VALUE', 'send.block'));
  assert.throws(() => new lnc.Producer({ ...base, compression: 'zip' }), configError('INVALID_VALUE', 'compression'));
  assert.throws(() => new lnc.Consumer({ ...base, topic: 'x', 'fetch.max.bytes': 'lots' }), configError('INVALID_VALUE', 'fetch.max.bytes'));
  assert.throws(() => new lnc.Consumer({ ...base, topic: 'x', 'offset.reset': 'sideways' }), configError('INVALID_VALUE', 'offset.reset'));
  assert.throws(() => new lnc.MockBroker({ nope: 1 }), (e) => e instanceof lnc.ConfigError && /nope/.test(e.message));
});

test('valid configurations construct (camelCase, arrays, booleans, Infinity)', async () => {
  const p = new lnc.Producer({ ...base, lingerMs: 5, 'bootstrap.servers': ['127.0.0.1:9', '127.0.0.1:10'], 'send.block': true });
  await p.close(0).catch(() => {});
  const a = new lnc.Admin({ ...base, requestTimeoutMs: 1000 });
  await a.close();
});
