'use strict';
// Configuration objects → the flat [key, value, ...] string list liblnc validates. Keys are
// liblnc's dotted keys ('linger.ms'); camelCase spellings ('lingerMs') are accepted too.
// Nothing is validated here: liblnc answers UNKNOWN_KEY / INVALID_VALUE with a readable reason.

function keyName(k) {
  if (k.includes('.') || !/[A-Z]/.test(k)) return k;
  return k.replace(/[A-Z]/g, (c) => '.' + c.toLowerCase());
}

function valueString(v) {
  if (Array.isArray(v)) return v.map(String).join(',');
  if (v === Infinity) return '-1';
  return String(v);
}

/** A config must be a plain key/value object (or null/undefined for none). */
function checkObject(config) {
  if (config != null && (typeof config !== 'object' || Array.isArray(config))) {
    throw new TypeError(`config must be an object of key/value pairs, got ${Array.isArray(config) ? 'an array' : typeof config}`);
  }
}

function toPairs(config, skip) {
  const pairs = [];
  checkObject(config);
  if (config == null) return pairs;
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined || (skip && skip.has(k))) continue;
    pairs.push(keyName(k), valueString(v));
  }
  return pairs;
}

function normalize(config) {
  checkObject(config);
  const out = {};
  if (config) for (const [k, v] of Object.entries(config)) if (v !== undefined) out[keyName(k)] = v;
  return out;
}

module.exports = { toPairs, normalize, keyName };
