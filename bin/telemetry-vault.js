#!/usr/bin/env node
'use strict';
// The compiled CLI (npm ci builds it through the prepare script; npm run build rebuilds it).
try {
  require.resolve('../dist/cli/main.js');
} catch {
  process.stderr.write('telemetry-vault: dist/ is missing; run `npm run build` (npm ci does it for you)\n');
  process.exit(1);
}
require('../dist/cli/main.js');
