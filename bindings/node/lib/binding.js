'use strict';
// Loads the addon, first found of:
//   1. $LNC_ADDON (an explicit addon file);
//   2. build/lnc.node, built in a checkout by `npm run build` (finds the checkout's liblnc
//      through its rpath; LD_LIBRARY_PATH overrides that at run time);
//   3. prebuilds/<platform>-<arch>/lnc.node, shipped in the npm package with liblnc's shared
//      library beside it (found through the addon's $ORIGIN rpath).
const fs = require('node:fs');
const path = require('node:path');

const built = path.join(__dirname, '..', 'build', 'lnc.node');
const prebuilt = path.join(__dirname, '..', 'prebuilds', `${process.platform}-${process.arch}`, 'lnc.node');
const file = process.env.LNC_ADDON || (fs.existsSync(built) ? built : prebuilt);
if (!process.env.LNC_ADDON && !fs.existsSync(file)) {
  throw new Error(
    `lnc: no addon for ${process.platform}-${process.arch} (looked for ${prebuilt} and ${built}); ` +
      'the npm package ships linux-x64 only: in a checkout, build it with `npm run build`',
  );
}
let binding;
try {
  binding = require(file);
} catch (e) {
  e.message = `cannot load the liblnc addon ${file}: ${e.message}`;
  throw e;
}
module.exports = binding;
