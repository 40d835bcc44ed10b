/**
 * `npm run build && node -r ./scripts/register-ts.js scripts/bench/ingest-decode-micro.ts [--payload json|struct] [--rounds N] [--before /other/checkout]`:
 * the server's CPU per event for what it does to each event of an
 * IngestStream message, in one process, without gRPC or PostgreSQL:
 * decoding a bench message of 1000 events (load-generator's shape, encoded
 * by the generated codec), validating each event into a batch, and encoding
 * the batch as COPY text. The code is the built `dist/` of this checkout
 * and, with --before, of another checkout's too, the two run in alternating
 * rounds in this one process (so both see the same core and the same load).
 * Prints the medians of the rounds, in microseconds per event, for each
 * stage, with the time V8 spent collecting garbage in them.
 */
import path from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { EventBatch as EventBatchType } from '../../src/domain/ingest/event-batch';
import type { EventValidator as EventValidatorType } from '../../src/domain/ingest/event-validator';
import type { IncomingEvent, ValidEvent } from '../../src/domain/ingest/ingest-event';
import { IngestStreamRequest } from '../../src/gen/telemetry/v1/ingest_service';
import type { encodeCopyChunks as EncodeCopyChunks } from '../../src/storage/encode-copy-text';
import type { decodeIngestRequest as DecodeIngestRequest } from '../../src/transport/grpc/wire/decode-ingest-request';
import { benchEvent, toProtoEvent, type PayloadMode } from './event-shape';
import { median } from './format-report';

interface Build {
  readonly name: string;
  readonly decode: typeof DecodeIngestRequest;
  readonly validator: EventValidatorType;
  readonly EventBatch: typeof EventBatchType;
  readonly encodeCopyChunks: typeof EncodeCopyChunks;
}

function loadBuild(name: string, root: string): Build {
  const dist = (module: string): Record<string, unknown> => require(path.join(root, 'dist', module)) as Record<string, unknown>;
  const { EventValidator } = dist('domain/ingest/event-validator') as { EventValidator: typeof EventValidatorType };
  return {
    name,
    decode: (dist('transport/grpc/wire/decode-ingest-request') as { decodeIngestRequest: typeof DecodeIngestRequest }).decodeIngestRequest,
    validator: new EventValidator({ maxPayloadBytes: 64 * 1024, maxPayloadDepth: 32, maxFutureSkewMs: 3_600_000 }),
    EventBatch: (dist('domain/ingest/event-batch') as { EventBatch: typeof EventBatchType }).EventBatch,
    encodeCopyChunks: (dist('storage/encode-copy-text') as { encodeCopyChunks: typeof EncodeCopyChunks }).encodeCopyChunks,
  };
}

const { values } = parseArgs({ options: { payload: { type: 'string', default: 'struct' }, rounds: { type: 'string', default: '15' }, messages: { type: 'string', default: '20' }, before: { type: 'string' } } });
const payload = values.payload as PayloadMode;
const EVENTS = 1000;
const messages = Array.from({ length: Number(values.messages) }, (_, m) =>
  IngestStreamRequest.encode({ events: Array.from({ length: EVENTS }, (_, i) => toProtoEvent(benchEvent('micro', m * EVENTS + i), payload)) }).finish(),
);
const builds = [...(values.before === undefined ? [] : [loadBuild('before', path.resolve(values.before))]), loadBuild(values.before === undefined ? 'this' : 'after', path.resolve(__dirname, '../..'))];

/** Garbage collections as [start, duration] in ms (performance.now()); they are reported after the fact, so rounds await them. */
const collections: [number, number][] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) collections.push([entry.startTime, entry.duration]);
}).observe({ entryTypes: ['gc'] });
const gcMicrosBetween = (from: number, to: number): number => collections.reduce((sum, [start, duration]) => (start >= from && start < to ? sum + duration * 1000 : sum), 0);

const cpu = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
type Stage = 'decode' | 'validate' | 'copy' | 'total' | 'gc';
const results = new Map(builds.map((build) => [build, { decode: [], validate: [], copy: [], total: [], gc: [] } as Record<Stage, number[]>]));

async function round(build: Build): Promise<Record<Stage, number>> {
  let decode = 0;
  let validate = 0;
  let copy = 0;
  const startedAt = performance.now();
  // Batches held as the server holds them (two at a time), so that what they keep alive is collected as there.
  let previous: ValidEvent[] = [];
  for (const bytes of messages) {
    const t0 = cpu();
    const decoded: readonly IncomingEvent[] = build.decode(bytes, 32).events;
    const t1 = cpu();
    const batch = new build.EventBatch(2000, 64 * 1024 * 1024);
    for (const event of decoded) {
      const valid = build.validator.validate(event);
      if (typeof valid === 'string') throw new Error(valid);
      batch.add(valid);
    }
    const t2 = cpu();
    const chunks = build.encodeCopyChunks([batch.events]);
    if (chunks.length === 0) throw new Error('no COPY text');
    const t3 = cpu();
    previous = batch.events;
    decode += t1 - t0;
    validate += t2 - t1;
    copy += t3 - t2;
  }
  if (previous.length === 0) throw new Error('no batch');
  const endedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const events = messages.length * EVENTS;
  return { decode: decode / events, validate: validate / events, copy: copy / events, total: (decode + validate + copy) / events, gc: gcMicrosBetween(startedAt, endedAt) / events };
}

async function main(): Promise<void> {
  const rounds = Number(values.rounds);
  for (let n = 0; n < rounds + 3; n++) {
    const order = n % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      const measured = await round(build);
      // The first three rounds warm up.
      if (n < 3) continue;
      for (const stage of Object.keys(measured) as Stage[]) results.get(build)![stage].push(measured[stage]);
    }
  }
  for (const [build, stages] of results) {
    process.stdout.write(
      `${payload} ${build.name}: ${Object.entries(stages)
        .map(([name, list]) => `${name} ${median(list).toFixed(2)}`)
        .join(', ')} us per event (CPU; gc: wall time in GC; medians of ${rounds} rounds)\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
