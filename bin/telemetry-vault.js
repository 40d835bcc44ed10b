#!/usr/bin/env node
'use strict';
// The compiled CLI (npm ci builds it through the prepare script; npm run build rebuilds it).
try {
  require.resolve('../dist/cli/main.js');
} catch {
  process.stderr.write('telemetry-vault: dist/ is missing; run `npm run build` (npm ci does it for you)\n');
  process.exit(1);
}
// Tracing first: its instrumentations patch @grpc/grpc-js and pg as they load.
// With no OTEL_* variables set it loads nothing.
const tracing = require('../dist/observability/start-tracing.js').startTracingFromEnv(process.env);
require('../dist/cli/main.js').main(tracing);
