/**
 * `node -r ./scripts/register-ts.js scripts/bench/otlp-database-cost.ts [--events N] [--rounds N]`:
 * what PostgreSQL spends per stored event, native bench events against the
 * events OTLP log records of the same data become (contract section 9), with
 * the server's exact statements (COPY into staging, the prepared merge,
 * COMMIT in one round trip; 2000 events per transaction on 4 connections,
 * as the ceiling path). Row shapes interleaved in each round, to tell the
 * payload's share from the event id's: native; native with its id padded to
 * 64 characters (long, in order); native with 64-hex-digit sha256 ids (long,
 * random); OTLP's payloads with native ids; OTLP as stored (40 hex digits led
 * by the record's time: in order, as the Node.js client's UUIDv7 ids are);
 * and OTLP with the 64-hex-digit sha256 ids that builds before 2026-12-06
 * stored (random). Prints
 * the backends' CPU per million events (/proc) and events/s, medians.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { create, toBinary } from '@bufbuild/protobuf';
import pg from 'pg';
import pino from 'pino';
import { COPY_INTO_STAGING, executeMerge, WRITER_SESSION_SETUP } from '../../src/storage/event-writer';
import { LIVE_TAIL_WRITER_LOCK } from '../../src/storage/live-tail-notify';
import { runOneRoundTripCopy } from '../../src/storage/one-round-trip-copy';
import { runMigrations } from '../../src/storage/run-migrations';
import { logsToEvents } from '../../src/transport/otlp/logs-to-events';
import { OTLP_SCHEMAS } from '../../src/transport/otlp/otlp-schemas';
import { createBenchTenants, openBenchDatabase } from './bench-database';
import { processCpuSeconds } from './database-baselines';
import { median } from './format-report';
import { benchEvent } from './event-shape';
import { benchLogsRequest } from './load-generator';

const log = (line: string): void => void process.stderr.write(`[otlp-database-cost ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const BATCH = 2000;
const CONNECTIONS = 4;
const RECORDS_PER_REQUEST = 512;

interface Row {
  readonly eventId: string;
  readonly timestamp: string;
  readonly eventType: string;
  readonly serviceName: string;
  readonly payload: string;
}

const SHAPES = ['native', 'native, id padded to 64 characters', 'native, OTLP id', 'OTLP payload, native id', 'OTLP', 'OTLP, sha256 id (before 2026-12-06)'] as const;
type Shape = (typeof SHAPES)[number];

/** Events `first`.. of `run` in each shape: the native bench events, and what the OTLP receiver stores for the same records. */
function rowsOf(run: string, first: number, count: number): Record<Shape, Row[]> {
  const schema = OTLP_SCHEMAS.logs.request;
  const out = Object.fromEntries(SHAPES.map((shape) => [shape, []])) as unknown as Record<Shape, Row[]>;
  for (let start = first; start < first + count; start += RECORDS_PER_REQUEST) {
    const records = Math.min(RECORDS_PER_REQUEST, first + count - start);
    const bytes = toBinary(schema, create(schema, benchLogsRequest(run, start, records).request as never));
    const mapped = logsToEvents(bytes, BigInt(Date.now()) * 1_000_000n);
    if (mapped === undefined) throw new Error('the fast path gave up on a bench request');
    mapped.events.forEach((event, index) => {
      const native = benchEvent(run, start + index);
      const timestamp = new Date(native.timestampMicros / 1000).toISOString();
      const otlpPayload = Buffer.from(event.payloadJson as Uint8Array).toString();
      const longId = createHash('sha256').update(native.eventId).digest('hex');
      out.native.push({ eventId: native.eventId, timestamp, eventType: native.eventType, serviceName: native.serviceName, payload: native.payloadJson });
      out['native, OTLP id'].push({ eventId: longId, timestamp, eventType: native.eventType, serviceName: native.serviceName, payload: native.payloadJson });
      out['OTLP payload, native id'].push({ eventId: native.eventId, timestamp, eventType: event.eventType, serviceName: event.serviceName, payload: otlpPayload });
      out.OTLP.push({ eventId: event.eventId, timestamp, eventType: event.eventType, serviceName: event.serviceName, payload: otlpPayload });
      out['native, id padded to 64 characters'].push({ eventId: native.eventId.padEnd(64, '0'), timestamp, eventType: native.eventType, serviceName: native.serviceName, payload: native.payloadJson });
      // What builds before 2026-12-06 stored: 64 hex digits of a sha256 (random), not led by the record's time.
      const randomId = createHash('sha256').update(event.eventId).digest('hex');
      out['OTLP, sha256 id (before 2026-12-06)'].push({ eventId: randomId, timestamp, eventType: event.eventType, serviceName: event.serviceName, payload: otlpPayload });
    });
  }
  return out;
}

function copyText(rows: readonly Row[]): Buffer {
  // Bench payloads hold no tab, newline or backslash: no COPY escapes needed.
  return Buffer.from(rows.map((row) => `1\t${row.eventId}\t${row.timestamp}\t${row.eventType}\t${row.serviceName}\t${row.payload}\n`).join(''));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '40000' }, rounds: { type: 'string', default: '3' } } });
  const events = Number(values.events);
  const rounds = Number(values.rounds);
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log });
  const clients: pg.Client[] = [];
  try {
    await runMigrations(database.url, pino({ level: 'silent' }));
    const tenantIds = (await createBenchTenants(database.url, 'dbcost')).map((tenant) => tenant.id);
    for (let i = 0; i < CONNECTIONS; i++) {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query(WRITER_SESSION_SETUP);
      clients.push(client);
    }
    const pids = await Promise.all(clients.map(async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
    const results: Record<Shape, { cpu: number[]; rate: number[] }> = Object.fromEntries(SHAPES.map((shape) => [shape, { cpu: [], rate: [] }])) as never;
    for (let round = 0; round <= rounds; round++) {
      const order = round % 2 === 0 ? SHAPES : [...SHAPES].reverse();
      for (const shape of order) {
        // A run of its own per shape and round (same length): no row is a duplicate of another's.
        const rows = rowsOf(`dbcost-${round}-${SHAPES.indexOf(shape)}`, 0, events)[shape];
        const lanes: { tenantId: string; text: Buffer }[][] = Array.from({ length: CONNECTIONS }, () => []);
        for (let start = 0, batch = 0; start < rows.length; start += BATCH, batch++) {
          lanes[batch % CONNECTIONS]!.push({ tenantId: tenantIds[batch % tenantIds.length]!, text: copyText(rows.slice(start, start + BATCH)) });
        }
        const cpuBefore = processCpuSeconds(pids) ?? Number.NaN;
        const startedAt = performance.now();
        let stored = 0;
        await Promise.all(
          lanes.map(async (lane, i) => {
            for (const batch of lane) {
              const merged = await runOneRoundTripCopy(clients[i]!, { before: ['BEGIN', LIVE_TAIL_WRITER_LOCK], copy: COPY_INTO_STAGING, after: [executeMerge([batch.tenantId]), 'COMMIT'], chunks: [batch.text] });
              stored += merged.reduce((sum, row) => sum + Number(row.stored), 0);
            }
          }),
        );
        const seconds = (performance.now() - startedAt) / 1000;
        const cpuPerMillion = (((processCpuSeconds(pids) ?? Number.NaN) - cpuBefore) / rows.length) * 1e6;
        if (stored !== rows.length) throw new Error(`${shape}: stored ${stored} of ${rows.length}`);
        log(`round ${round}${round === 0 ? ' (warm-up)' : ''} ${shape}: ${Math.round(rows.length / seconds)} events/s, database CPU ${cpuPerMillion.toFixed(1)} s per 1M`);
        // Round 0 warms up.
        if (round > 0) {
          results[shape].cpu.push(cpuPerMillion);
          results[shape].rate.push(rows.length / seconds);
        }
      }
    }
    const base = median(results.native.cpu);
    process.stdout.write(`| rows (${events} per round, ${BATCH} per transaction, ${CONNECTIONS} connections, ${rounds} rounds) | database CPU s per 1M events (median) | vs native | events/s (median) |\n|---|---|---|---|\n`);
    for (const shape of SHAPES) {
      const cpu = median(results[shape].cpu);
      process.stdout.write(`| ${shape} | ${cpu.toFixed(1)} | ${(cpu / base).toFixed(2)}x | ${Math.round(median(results[shape].rate))} |\n`);
    }
  } finally {
    await Promise.all(clients.map((client) => client.end()));
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
