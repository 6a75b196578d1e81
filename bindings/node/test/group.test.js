'use strict';
// GroupConsumer: two members sharing topics (sticky assignment, 'assigned'/'revoked' events),
// a clean leave and a killed member (a child process, SIGKILL) handing their topics over,
// every record read at least once; calls racing close().
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { lnc, withMock, topicName } = require('../support/helpers');

const TIMING = { 'group.session.timeout.ms': 3000, 'group.heartbeat.interval.ms': 200, 'log.level': 'off' };

function member(config, groupId, topics, id) {
  return new lnc.GroupConsumer({ ...config, ...TIMING, 'group.id': groupId, 'group.topics': topics, 'group.member.id': id });
}

/** Polls `g` in the background into `seen` (value text → count) until stop(). */
function pollLoop(g, seen) {
  let stopped = false;
  const events = [];
  g.on('assigned', (topics) => events.push(['assigned', topics]));
  g.on('revoked', (topics) => events.push(['revoked', topics]));
  const done = (async () => {
    while (!stopped && !g.closed) {
      for (const r of await g.poll(200)) {
        assert.equal(typeof r.topicId, 'number');
        const v = r.text();
        assert.ok(v.startsWith(`${r.topicId}:`), `record ${v} tagged with topic ${r.topicId}`);
        seen.set(v, (seen.get(v) || 0) + 1);
      }
    }
  })();
  return { events, stop: () => ((stopped = true), done) };
}

async function until(what, pred, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function produceAll(config, ids, n, from = 0) {
  const p = new lnc.Producer(config);
  for (const id of ids) for (let i = from; i < n; i++) p.produce(id, `${id}:${i}`);
  await p.flush();
  await p.close();
}

const allSeen = (seen, ids, n) => ids.every((id) => [...Array(n).keys()].every((i) => seen.has(`${id}:${i}`)));

test('two members share four topics; when one leaves, the other takes them all and every record is read', async (t) => {
  const { mock, config } = await withMock(t, { 'ack.delay.ms': 0 });
  const names = [0, 1, 2, 3].map(() => topicName('g'));
  const ids = names.map((n) => mock.createTopic(n));
  const N = 200;
  await produceAll(config, ids, N);
  const group = `grp-${process.pid}-a`;
  const a = member(config, group, names, 'a');
  const b = member(config, group, names, 'b');
  await Promise.all([a.ready, b.ready]);
  assert.equal(a.memberId, 'a');
  assert.equal(b.memberId, 'b');
  const seen = new Map();
  const la = pollLoop(a, seen);
  const lb = pollLoop(b, seen);
  await until('both members own two topics each', () => a.assignment().length === 2 && b.assignment().length === 2);
  assert.deepEqual([...a.assignment(), ...b.assignment()].sort(), [...ids].sort(), 'disjoint and complete');
  await until('every record read once', () => allSeen(seen, ids, N));
  assert.ok(la.events.some(([k]) => k === 'assigned') && lb.events.some(([k]) => k === 'assigned'), 'assigned events');

  await la.stop();
  await a.close(10000);
  await a.close(); // idempotent
  assert.deepEqual(await a.poll(0), [], 'poll after close: []');
  assert.throws(() => a.assignment(), { code: 'CLOSED' });
  await until('b took every topic over', () => b.assignment().length === 4);
  await produceAll(config, ids, N + 50, N);
  await until('records written after the leave are read', () => allSeen(seen, ids, N + 50));
  const dups = [...seen.values()].filter((c) => c > 1).length;
  t.diagnostic(`${seen.size} distinct records, ${dups} delivered more than once (at-least-once around handovers)`);
  await lb.stop();
  await b.close();
});

test('a killed member (SIGKILL, no leave) loses its topics after the session timeout; they resume at the group commit', async (t) => {
  const { mock, config } = await withMock(t, { 'ack.delay.ms': 0 });
  const names = [0, 1].map(() => topicName('k'));
  const ids = names.map((n) => mock.createTopic(n));
  const group = `grp-${process.pid}-k`;
  const settings = JSON.stringify({ ...config, ...TIMING, 'group.id': group, 'group.topics': names, 'group.member.id': 'victim' });
  const child = spawn(process.execPath, ['-e', `
    const lnc = require('.');
    const g = new lnc.GroupConsumer(${settings});
    (async () => {
      for (;;) {
        const recs = await g.poll(200);
        for (const r of recs) console.log('v', r.text());
        console.log('own', g.assignment().length);
      }
    })();`], { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let childOwns = 0;
  const seen = new Map(); // both members' records
  let partial = '';
  child.stdout.on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (line.startsWith('own ')) childOwns = Number(line.slice(4));
      else if (line.startsWith('v ')) seen.set(line.slice(2), (seen.get(line.slice(2)) || 0) + 1);
    }
  });
  await produceAll(config, ids, 100);
  await until('the child owns both topics and read everything', () => childOwns === 2 && allSeen(seen, ids, 100));
  const survivor = member(config, group, names, 'survivor');
  await survivor.ready;
  const loop = pollLoop(survivor, seen);
  await until('the survivor got one topic', () => survivor.assignment().length === 1);
  const killedAt = Date.now();
  child.kill('SIGKILL');
  await until('the survivor owns both', () => survivor.assignment().length === 2, 20000);
  const handover = Date.now() - killedAt;
  t.diagnostic(`handover after the kill: ${handover} ms (session timeout 3000 + heartbeat 200)`);
  await produceAll(config, ids, 200, 100);
  await until('every record read, by one member or the other', () => allSeen(seen, ids, 200));
  const dups = [...seen.values()].filter((c) => c > 1).length;
  t.diagnostic(`${seen.size} distinct records, ${dups} read again after the handovers (the victim's uncommitted tail)`);
  await loop.stop();
  await survivor.close();
});

test('GroupConsumer calls racing close(): each resolves, returns [] or fails with CLOSED; nothing hangs', async (t) => {
  const { mock, config } = await withMock(t, { 'ack.delay.ms': 0 });
  const names = [topicName('r')];
  mock.createTopic(names[0]);
  for (let round = 0; round < 3; round++) {
    const g = member(config, `grp-${process.pid}-r${round}`, names, `m${round}`);
    const calls = [];
    for (let i = 0; i < 4; i++) calls.push(g.poll(i === 0 ? -1 : 500));
    if (round > 0) await g.ready;
    calls.push(Promise.resolve().then(() => g.assignment()));
    calls.push(g.close(5000), g.close(5000));
    calls.push(g.poll(100));
    const results = await Promise.allSettled(calls);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal(r.reason.code, 'CLOSED', String(r.reason));
    }
    for (const r of results.slice(0, 4)) if (r.status === 'fulfilled') assert.ok(Array.isArray(r.value));
  }
  await assert.rejects(lnc.GroupConsumer.create({ ...config }), { code: 'INVALID_ARG' }); // no group.id
  await assert.rejects(lnc.GroupConsumer.create({ ...config, 'group.id': 'x', 'no.such.key': 1 }), { code: 'UNKNOWN_KEY' });
});
