#!/usr/bin/env node
// Builds build/lnc.node with the system C compiler against node-api-headers (no node-gyp, no
// header download). napi_* symbols stay undefined and resolve against the running node.
// This is a development step (node-api-headers is a devDependency): the npm package ships a
// prebuilt addon that scripts/package.sh builds with this script.
//
// Environment:
//   LNC_LIBRARY_DIR  directory holding liblnc.so (default: the repository's target/release)
//   LNC_INCLUDE_DIR  directory holding lnc.h (default: the repository's include/)
//   LNC_ADDON_OUT    output file (default: build/lnc.node)
//   LNC_ADDON_RPATH  rpath baked into the addon (default: $LNC_LIBRARY_DIR if set, else the
//                    $ORIGIN-relative path to target/release for the in-repo build)
// At run time $LNC_ADDON can point the JS loader at a different addon file (lib/binding.js).
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
// liblnc.so carries a versioned soname (liblnc.so.0.<minor> for 0.x) and cargo writes only
// liblnc.so: provide the soname link the loader needs next to it.
const dyn = execFileSync('readelf', ['-d', so], { encoding: 'utf8' });
const m = /\(SONAME\)[^\[]*\[([^\]]+)\]/.exec(dyn);
if (!m) {
  console.error(`${so} has no SONAME`);
  process.exit(1);
}
const soname = path.join(libDir, m[1]);
try {
  fs.lstatSync(soname);
} catch {
  try {
    fs.symlinkSync('liblnc.so', soname);
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
}

const out = path.resolve(process.env.LNC_ADDON_OUT || path.join(root, 'build', 'lnc.node'));
const outDir = path.dirname(out);
fs.mkdirSync(outDir, { recursive: true });
const relLib = path.relative(outDir, libDir);
const rpath = process.env.LNC_ADDON_RPATH || (process.env.LNC_LIBRARY_DIR ? libDir : `$ORIGIN/${relLib}`);
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
