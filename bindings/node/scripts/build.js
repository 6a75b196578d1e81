#!/usr/bin/env node
// Builds build/lnc.node with the system C compiler against node-api-headers (no node-gyp, no
// header download). napi_* symbols stay undefined and resolve against the running node.
//
// liblnc is looked up in $LNC_LIBRARY_DIR (a directory holding liblnc.so), else the repository's
// target/release. The addon gets an rpath to that directory ($ORIGIN-relative for the in-repo
// build), so no LD_LIBRARY_PATH is needed. At run time $LNC_LIBRARY can point the JS loader at a
// different addon file (see lib/binding.js).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const repo = path.resolve(root, '..', '..');
const headers = path.dirname(require.resolve('node-api-headers/include/node_api.h', { paths: [root] }));
const includeDir = process.env.LNC_INCLUDE_DIR || path.join(repo, 'include');
const libDir = path.resolve(process.env.LNC_LIBRARY_DIR || path.join(repo, 'target', 'release'));
const cc = process.env.CC || 'cc';

const so = path.join(libDir, 'liblnc.so');
if (!fs.existsSync(so)) {
  console.error(`liblnc not found at ${so}: run \`cargo build --release --features tls --lib\` in ${repo} or set LNC_LIBRARY_DIR`);
  process.exit(1);
}
// The soname is liblnc.so.0; cargo writes only liblnc.so. Provide the soname link the loader needs.
const soname = path.join(libDir, 'liblnc.so.0');
try {
  fs.lstatSync(soname);
} catch {
  try {
    fs.symlinkSync('liblnc.so', soname);
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
}

const outDir = path.join(root, 'build');
fs.mkdirSync(outDir, { recursive: true });
const out = path.join(outDir, 'lnc.node');
const relLib = path.relative(outDir, libDir);
const rpath = process.env.LNC_LIBRARY_DIR ? libDir : `$ORIGIN/${relLib}`;
const args = [
  '-O2', '-g', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-shared', '-fPIC', '-pthread',
  '-I', headers, '-I', includeDir,
  path.join(root, 'src', 'addon.c'),
  '-L', libDir, '-llnc', `-Wl,-rpath,${rpath}`, '-Wl,--allow-shlib-undefined',
  '-o', out + '.tmp',
];
console.log(`${cc} ${args.join(' ')}`);
execFileSync(cc, args, { stdio: 'inherit' });
fs.renameSync(out + '.tmp', out);
console.log(`built ${path.relative(process.cwd(), out)} (liblnc from ${libDir})`);
