'use strict';
// Loads the addon. $LNC_ADDON overrides the addon path (default: ../build/lnc.node). The addon
// finds liblnc.so.0 through its rpath (set at build time from $LNC_LIBRARY_DIR or the repository's
// target/release); LD_LIBRARY_PATH overrides that at run time.
const path = require('node:path');

const file = process.env.LNC_ADDON || path.join(__dirname, '..', 'build', 'lnc.node');
let binding;
try {
  binding = require(file);
} catch (e) {
  e.message = `cannot load the liblnc addon ${file} (run \`npm run build\`): ${e.message}`;
  throw e;
}
module.exports = binding;
