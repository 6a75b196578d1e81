'use strict';
// User offset stores (lnc_consumer_new_with_store): liblnc calls load/save on the thread making
// the consumer call; the addon runs them on the JS thread and waits for the answer.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { lnc, topicName, withMock } = require('../support/helpers');

async function fill(config, id, n) {
  const p = new lnc.Producer(config);
  for (let i = 0; i < n; i++) p.produce(id, `m${i}`);
  await p.close();
}

/** An in-memory store that records every call. */
class LoggingStore {
  constructor(initial = new Map()) {
    this.offsets = initial;
    this.calls = [];
  }
  load(topicId) {
    this.calls.push(['load', topicId]);
    return this.offsets.get(topicId) ?? null;
  }
  save(topicId, offset) {
    this.calls.push(['save', topicId, offset]);
    this.offsets.set(topicId, offset);
  }
}

async function offsetsOf(config, id, n) {
  const c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning', 'max.poll.records': n });
  try {
    const out = [];
    while (out.length < n) out.push(...(await c.poll(2000)));
    return out.map((r) => r.offset);
  } finally {
    await c.close();
  }
}

test('load() gives the start offset; commit() and close() save the position (BigInt offsets)', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 10);
  const offsets = await offsetsOf(config, id, 10);
  const store = new LoggingStore(new Map([[id, offsets[4]]]));
  const c = await lnc.Consumer.create(
    { ...config, 'topic.id': id, 'enable.auto.commit': false, 'max.poll.records': 3 },
    { offsetStore: store },
  );
  assert.deepEqual(store.calls, [['load', id]]);
  const batch = await c.poll(2000);
  assert.deepEqual(batch.map((r) => r.text()), ['m4', 'm5', 'm6']);
  const committed = await c.commit();
  assert.equal(committed, offsets[7]);
  assert.deepEqual(store.calls.at(-1), ['save', id, offsets[7]]);
  assert.equal(typeof store.calls.at(-1)[2], 'bigint');
  await c.close();

  // A second consumer resumes where the first committed.
  const c2 = await lnc.Consumer.create({ ...config, 'topic.id': id, 'enable.auto.commit': false }, { offsetStore: store });
  t.after(() => c2.close());
  assert.equal((await c2.poll(2000))[0].text(), 'm7');
});

test('an async store (Promises) works; nothing stored means start.offset', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 5);
  const saved = [];
  const store = {
    load: async () => {
      await new Promise((r) => setTimeout(r, 20));
      return undefined;
    },
    save: (topicId, offset) => new Promise((r) => setTimeout(() => r(saved.push(offset)), 20)),
  };
  const c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning' }, { offsetStore: store });
  const got = [];
  while (got.length < 5) got.push(...(await c.poll(2000)));
  assert.equal(got[0].text(), 'm0');
  await c.close(); // final auto-commit
  assert.equal(saved.at(-1), mock.topicSize(id));
});

test("a store's errors fail the call that needed it, with the store's own error", async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 3);
  const boom = new Error('disk on fire');
  const bad = new lnc.Consumer({ ...config, 'topic.id': id }, { offsetStore: { load: () => { throw boom; }, save() {} } });
  await assert.rejects(bad.ready, (e) => e === boom);
  await bad.close();
  const rejecting = new lnc.Consumer({ ...config, 'topic.id': id }, {
    offsetStore: { load: () => Promise.reject(boom), save() {} },
  });
  await assert.rejects(rejecting.ready, (e) => e === boom);
  const wrongType = new lnc.Consumer({ ...config, 'topic.id': id }, { offsetStore: { load: () => 'zero', save() {} } });
  await assert.rejects(wrongType.ready, TypeError);
  const unsafe = new lnc.Consumer({ ...config, 'topic.id': id }, { offsetStore: { load: () => 2 ** 53 + 2, save() {} } });
  await assert.rejects(unsafe.ready, RangeError);

  let failSave = true;
  const c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning', 'enable.auto.commit': false }, {
    offsetStore: {
      load: () => null,
      save: async () => {
        if (failSave) throw boom;
      },
    },
  });
  t.after(() => c.close());
  await c.poll(2000);
  await assert.rejects(c.commit(), (e) => e === boom);
  failSave = false;
  assert.equal(await c.commit(), c.position());
  assert.throws(() => new lnc.Consumer(config, { offsetStore: { load() {} } }), TypeError);
});

test('store calls race poll/seek/commit/lag/close from many consumers without deadlock or loss', async (t) => {
  const { mock, config } = await withMock(t);
  const id = mock.createTopic(topicName());
  await fill(config, id, 200);
  const stores = [];
  const runs = [];
  for (let k = 0; k < 6; k++) {
    const store = new LoggingStore();
    stores.push(store);
    const c = new lnc.Consumer(
      { ...config, 'topic.id': id, 'start.offset': 'beginning', 'auto.commit.interval.ms': 1, 'max.poll.records': 7 },
      { offsetStore: store },
    );
    const ops = [];
    for (let i = 0; i < 20; i++) {
      ops.push(c.poll(50), c.commit(), c.lag());
      if (i % 5 === 0) ops.push(c.seek('beginning'));
    }
    // close() races everything above; calls after it fail with ClosedError or return [] (poll).
    ops.push(c.close(), c.commit(), c.poll(10));
    runs.push(
      Promise.allSettled(ops).then((rs) => {
        for (const r of rs) {
          if (r.status === 'rejected') assert.ok(r.reason instanceof lnc.LncError, String(r.reason));
        }
      }),
    );
  }
  await Promise.all(runs);
  // start.offset 'beginning' needs no load; every save is a position inside the topic.
  const size = mock.topicSize(id);
  for (const s of stores) {
    assert.ok(s.calls.length > 0);
    for (const c of s.calls) assert.ok(c[0] === 'save' && c[1] === id && c[2] >= 0n && c[2] <= size, String(c));
  }
});

test('a collected consumer with a store is freed off the JS thread, and a script with an open one exits', async () => {
  const script = `
    const lnc = require('.');
    (async () => {
      const mock = new lnc.MockBroker();
      const config = { 'bootstrap.servers': mock.address };
      const id = mock.createTopic('store-exit');
      const p = new lnc.Producer(config);
      await p.send(id, 'one');
      await p.close();
      let saves = 0;
      const store = { load: () => null, save: () => { saves++; } };
      let c = await lnc.Consumer.create({ ...config, 'topic.id': id, 'start.offset': 'beginning' }, { offsetStore: store });
      await c.poll(1000);
      await c.close(); // the final auto-commit saves
      c = null;
      globalThis.gc(); // a collected consumer with a store is freed on a detached thread
      await new Promise((r) => setTimeout(r, 200));
      console.log('saves', saves);
      const c2 = await lnc.Consumer.create({ ...config, 'topic.id': id }, { offsetStore: store });
      console.log('done; not closing', typeof c2);
    })();
  `;
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '-e', script], {
      cwd: path.join(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
  assert.equal(r.signal, null, `hung: ${r.out} ${r.err}`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /saves [1-9]/);
  assert.match(r.out, /done; not closing/);
});
