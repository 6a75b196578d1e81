'use strict';
// Event collection helpers shared by events.test.js and outage.test.js.

/** Every 'event' of `emitter`, in order; `waitFor` resolves with the index of the first match at or after `from`. */
function collect(emitter) {
  const seen = [];
  const waiters = [];
  emitter.on('event', (e) => {
    seen.push(e);
    for (const w of [...waiters]) w();
  });
  const waitFor = (what, from, pred, timeoutMs = 20000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < seen.length; i++) {
          if (pred(seen[i])) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(i);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`timed out waiting for ${what}; saw ${describe(seen)}`));
      }, timeoutMs);
      waiters.push(check);
      check();
    });
  return { seen, waitFor };
}

const kind = (k) => (e) => e.kind === k;
const notStats = (evs) => evs.filter((e) => e.kind !== 'statistics');
const describe = (evs) => notStats(evs).map((e) => `${e.kind}${e.code ? `(${e.code})` : ''}${e.delayMs ? `+${e.delayMs}ms` : ''}`).join(', ');

module.exports = { collect, kind, notStats, describe };
