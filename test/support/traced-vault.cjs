'use strict';
// A vault in a child process with the production tracing setup
// (dist/observability/start-tracing.js) and an in-memory span exporter, so
// that a test can look at the spans. OpenTelemetry instruments modules as Node
// loads them, which jest's module registry bypasses: hence a real process.
// Protocol (IPC): sends {type:'ready', grpcPort, httpPort}; answers
// {type:'spans'} with {type:'spans', spans:[...]}; {type:'stop'} drains and exits.
const path = require('node:path');
const dist = path.resolve(__dirname, '../../dist');
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const exporter = new InMemorySpanExporter();
const { loadConfig, readTracingSettings } = require(path.join(dist, 'config/load-config.js'));
const { EnvReader } = require(path.join(dist, 'config/env-reader.js'));
const tracing = require(path.join(dist, 'observability/start-tracing.js')).startTracing(readTracingSettings(new EnvReader(process.env)), { spanProcessors: [new SimpleSpanProcessor(exporter)] });
const { createLogger } = require(path.join(dist, 'observability/create-logger.js'));
const { startVault } = require(path.join(dist, 'main.js'));

function serialize(span) {
  const context = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext ? span.parentSpanContext.spanId : span.parentSpanId,
    attributes: span.attributes,
    status: span.status,
  };
}

(async () => {
  const config = loadConfig(process.env);
  const vault = await startVault(config, createLogger({ level: 'info', pretty: false }));
  process.on('message', async (message) => {
    if (message.type === 'spans') process.send({ type: 'spans', spans: exporter.getFinishedSpans().map(serialize) });
    if (message.type === 'stop') {
      await vault.shutdown();
      await tracing.shutdown();
      process.exit(0);
    }
  });
  process.send({ type: 'ready', grpcPort: vault.grpcPort, httpPort: vault.httpPort });
})().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
