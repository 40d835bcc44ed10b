/**
 * Ingest load against any running vault:
 *
 *   npm run load -- --target localhost:50051 --key tv_... --rate 20000 --streams 4 --duration 30
 *
 * Prints a progress line every second (events acknowledged per second,
 * latency percentiles of the last second, status codes so far) and a summary
 * at the end. Exits 1 when no call succeeded. See docs/performance.md.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { benchEvent, toProtoEvent, type PayloadMode } from '../bench/event-shape';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { createIngestClient, encodeMessage, LoadStats, runIngestLoad, type EncodedMessage } from './ingest-driver';

const USAGE = `usage: npm run load -- --target HOST:PORT --key KEY [options]

  --target HOST:PORT        the vault's gRPC address (required)
  --key KEY                 an API key of the tenant to load (required)
  --rate N                  events per second over all streams; 0 = as fast as it takes them (default 0)
  --streams N               concurrent IngestStream calls, or unary senders with --mode unary (default 4)
  --duration S              seconds to run (default 30)
  --batch N                 events per message (default 500)
  --messages-per-call N     messages per IngestStream call (default 10)
  --mode stream|unary       IngestStream calls, or one unary Ingest call per message (default stream)
  --payload json|struct     payload_json (the SDK fast path) or a Struct payload (default json)
  --tls                     use TLS (--ca FILE to trust a private CA)
  --json                    print the summary as JSON
`;

interface LoadOptions {
  readonly target: string;
  readonly key: string;
  readonly rate: number;
  readonly streams: number;
  readonly durationMs: number;
  readonly batch: number;
  readonly messagesPerCall: number;
  readonly mode: 'stream' | 'unary';
  readonly payload: PayloadMode;
  readonly tls: boolean;
  readonly ca: string | undefined;
  readonly json: boolean;
}

function parseOptions(argv: string[]): LoadOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      key: { type: 'string' },
      rate: { type: 'string', default: '0' },
      streams: { type: 'string', default: '4' },
      duration: { type: 'string', default: '30' },
      batch: { type: 'string', default: '500' },
      'messages-per-call': { type: 'string', default: '10' },
      mode: { type: 'string', default: 'stream' },
      payload: { type: 'string', default: 'json' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const problems: string[] = [];
  const number = (name: 'rate' | 'streams' | 'duration' | 'batch' | 'messages-per-call', min: number): number => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < min) problems.push(`--${name} must be a number >= ${min}, not "${values[name]}"`);
    return value;
  };
  const options = {
    target: values.target ?? '',
    key: values.key ?? '',
    rate: number('rate', 0),
    streams: Math.floor(number('streams', 1)),
    durationMs: number('duration', 1) * 1000,
    batch: Math.floor(number('batch', 1)),
    messagesPerCall: Math.floor(number('messages-per-call', 1)),
    mode: values.mode as LoadOptions['mode'],
    payload: values.payload as PayloadMode,
    tls: values.tls,
    ca: values.ca,
    json: values.json,
  };
  if (!options.target) problems.push('--target is required');
  if (!options.key) problems.push('--key is required');
  if (!['stream', 'unary'].includes(options.mode)) problems.push(`--mode must be stream or unary, not "${options.mode}"`);
  if (!['json', 'struct'].includes(options.payload)) problems.push(`--payload must be json or struct, not "${options.payload}"`);
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n\n${USAGE}`);
    process.exit(2);
  }
  return options;
}

function formatCodes(codes: Record<string, number>): string {
  return Object.entries(codes)
    .map(([code, count]) => `${code} ${count}`)
    .join('  ');
}

function formatMs(value: number | null): string {
  return value === null ? '-' : value.toFixed(1);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const client = createIngestClient(options.target, { tls: options.tls, caFile: options.ca });
  const run = `load-${randomBytes(4).toString('hex')}`;
  let sequence = 0;
  // Events now (the bench shape's ids and payloads, with the current time), encoded as they are sent.
  const next = (): EncodedMessage => {
    const nowMicros = Date.now() * 1000;
    const events: Event[] = [];
    for (let i = 0; i < options.batch; i++) events.push(toProtoEvent({ ...benchEvent(run, sequence++), timestampMicros: nowMicros }, options.payload));
    return encodeMessage(events);
  };
  const stats = new LoadStats();
  const startedAt = Date.now();
  const progress = setInterval(() => {
    const window = stats.take();
    const summary = window.latency.summary();
    const seconds = Math.round((Date.now() - startedAt) / 1000);
    const average = Math.round(stats.events / ((Date.now() - startedAt) / 1000));
    process.stderr.write(
      `${String(seconds).padStart(4)}s  ${String(window.events).padStart(7)} events/s (avg ${average})  latency p50 ${formatMs(summary.p50)} p95 ${formatMs(summary.p95)} p99 ${formatMs(summary.p99)} ms  ${formatCodes(stats.codes)}\n`,
    );
  }, 1000);
  const { elapsedMs } = await runIngestLoad(client, {
    mode: options.mode,
    workers: options.streams,
    eventsPerSecond: options.rate,
    messagesPerCall: options.messagesPerCall,
    durationMs: options.durationMs,
    next,
    keyFor: () => options.key,
    stats,
  });
  clearInterval(progress);
  client.close();
  const result = {
    target: options.target,
    mode: options.mode,
    payload: options.payload,
    streams: options.streams,
    batch: options.batch,
    targetRate: options.rate,
    seconds: Math.round(elapsedMs) / 1000,
    eventsAcknowledged: stats.events,
    eventsPerSecond: Math.round(stats.events / (elapsedMs / 1000)),
    accepted: stats.accepted,
    duplicates: stats.duplicates,
    rejected: stats.rejected,
    calls: stats.calls,
    codes: stats.codes,
    callLatencyMs: stats.latency.summary(),
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const l = result.callLatencyMs;
    process.stdout.write(
      [
        '',
        `${result.eventsAcknowledged} events acknowledged in ${result.seconds} s: ${result.eventsPerSecond} events/s`,
        `accepted ${result.accepted}, duplicates ${result.duplicates}, rejected ${result.rejected}`,
        `${result.calls} calls: ${formatCodes(result.codes)}`,
        `call latency ms: p50 ${formatMs(l.p50)}  p95 ${formatMs(l.p95)}  p99 ${formatMs(l.p99)}  max ${formatMs(l.max)}`,
        '',
      ].join('\n'),
    );
  }
  process.exitCode = (stats.codes.OK ?? 0) > 0 ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
