'use strict';
// Record type names ↔ the LNC_RECORD_* numbers of include/lnc.h.
const RecordType = Object.freeze({
  raw: 1, json: 2, msgpack: 3, protobuf: 4, avro: 5,
  keyValue: 16, timestamped: 17, keyTimestamped: 18, extended: 255,
});
const EXT_TOMBSTONE = 0xff;
const NAMES = new Map(Object.entries(RecordType).map(([k, v]) => [v, k]));

function recordType(t) {
  if (t === undefined || t === null) return 0;
  if (typeof t === 'number') {
    if (!Number.isInteger(t) || t < 0 || t > 255) throw new RangeError(`record type out of range: ${t}`);
    return t;
  }
  if (t === 'tombstone') return RecordType.extended;
  const n = RecordType[t];
  if (n === undefined) throw new RangeError(`unknown record type: ${t}`);
  return n;
}

/** Timestamp option → nanoseconds: bigint = ns, number = ms since the epoch, Date. 0 = none. */
function timestampNs(ts) {
  if (ts === undefined || ts === null) return 0;
  if (typeof ts === 'bigint') return ts;
  if (ts instanceof Date) return BigInt(ts.getTime()) * 1000000n;
  if (typeof ts === 'number') return BigInt(Math.round(ts * 1e3)) * 1000n;
  throw new TypeError('timestamp must be a bigint (ns), a number (ms) or a Date');
}

module.exports = { RecordType, EXT_TOMBSTONE, recordType, timestampNs, typeName: (n) => NAMES.get(n) };
