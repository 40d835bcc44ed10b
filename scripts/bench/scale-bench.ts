/**
 * `npm run bench -- --scale [--scale-rows 10000000,30000000]`: the data
 * lifecycle at scale (issue 16), on PostgreSQL alone with the server's own
 * statements (CREATE_STAGING, COPY, MERGE of src/storage/event-writer.ts;
 * pageQuery of src/storage/event-query-sql.ts), in one run:
 *
 * - ingest events/s with 0 and each --scale-rows events already stored, into
 *   the partitioned events table (migration 0004, 1-day partitions) and into
 *   today's unpartitioned one (migrations 0001-0003, plus the tables of 0005
 *   and 0006 that the MERGE writes) side by side;
 * - the latency of a keyset cursor page at each size;
 * - the time to drop one day's partition (DETACH CONCURRENTLY + DROP), and
 *   ingest p99 per batch while it runs against p99 just before;
 * - the disk footprint of table and indexes at the largest size.
 *
 * The stored events are spread over 30 days of 1-day partitions (above
 * events_before, which migration 0004 bounds at the next UTC midnight); the
 * ingested ones go into the newest day, as live telemetry does. Not in CI:
 * filling 30M rows takes minutes. BENCH_DATABASE_URL as for `npm run bench`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import pino from 'pino';
import { from as copyFrom } from 'pg-copy-streams';
import { ensureEventPartitions } from '../../src/storage/event-partitions';
import { pageQuery } from '../../src/storage/event-query-sql';
import { COPY_INTO_STAGING, CREATE_STAGING, MERGE, mergeArguments } from '../../src/storage/event-writer';
import { runRetentionRound } from '../../src/storage/retention-work';
import { MIGRATIONS_DIR, runMigrations } from '../../src/storage/run-migrations';
import { startEmbeddedPostgres, type AdminServer } from './bench-database';
import { fillWithoutIndexes } from './bulk-fill';

const DAY_MS = 86_400_000;
const DAYS = 30;
const TENANTS = 8;
const BATCH = 2000;
const CONNECTIONS = 2;
/** Ingest batches per connection in one measurement. */
const INGEST_BATCHES = 40;
const FILL_CHUNK = 1_000_000;
const PAGES = 50;

export interface ScaleOptions {
  /** Stored-event counts to measure at (0 is always measured first). */
  readonly sizes: readonly number[];
  readonly adminUrl: string | undefined;
  readonly log: (line: string) => void;
}

interface Schema {
  readonly label: 'partitioned' | 'unpartitioned';
  readonly url: string;
  stored: number;
}

interface SizeRow {
  readonly stored: number;
  readonly ingest: Record<Schema['label'], number>;
  readonly pageMs: Record<Schema['label'], number>;
}

/** Runs the scale benchmark and prints its tables; returns them as JSON-ready data. */
export async function runScaleBench(options: ScaleOptions): Promise<unknown> {
  const silent = pino({ level: 'silent' });
  const server: AdminServer = options.adminUrl === undefined ? await startEmbeddedPostgres() : { adminUrl: options.adminUrl, description: 'BENCH_DATABASE_URL', stop: async () => undefined };
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  const names = { partitioned: `tv_scale_p_${process.pid}`, unpartitioned: `tv_scale_u_${process.pid}` };
  try {
    const urlOf = (name: string): string => Object.assign(new URL(server.adminUrl), { pathname: `/${name}` }).toString();
    for (const name of Object.values(names)) await admin.query(`CREATE DATABASE ${name}`);
    const { runner } = await import('node-pg-migrate');
    const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    await runner({ databaseUrl: urlOf(names.unpartitioned), dir: MIGRATIONS_DIR, direction: 'up', migrationsTable: 'pgmigrations', count: 3, singleTransaction: true, logger: quiet });
    // The tables that the writer's MERGE also writes (rollup deltas, 0005; live-tail followers, 0006) do not
    // depend on partitioning: the baseline gets them too, so that both schemas run the same statement.
    const baseline = new pg.Client({ connectionString: urlOf(names.unpartitioned) });
    await baseline.connect();
    for (const file of ['0005_event-rollups.sql', '0006_live-tail-followers.sql']) {
      await baseline.query(fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8').split('-- Down Migration')[0]!);
    }
    await baseline.end();
    await runMigrations(urlOf(names.partitioned), silent);
    const partitionedPool = new pg.Pool({ connectionString: urlOf(names.partitioned), max: 4 });
    // An idle connection that the server ends (a shutdown, an administrator) is reported, not an unhandled crash.
    partitionedPool.on('error', (error) => options.log(`partitioned pool: idle connection lost: ${error.message}`));
    const bound = await partitionedPool.query<{ upper: Date }>(
      "SELECT (regexp_match(pg_get_expr(relpartbound, oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS upper FROM pg_class WHERE relname = 'events_before'",
    );
    const firstDayMs = bound.rows[0]!.upper.getTime();
    await ensureEventPartitions(partitionedPool, { intervalMs: DAY_MS, horizonMs: firstDayMs + DAYS * DAY_MS, lockTimeoutMs: 30_000 });
    const schemas: Schema[] = [
      { label: 'partitioned', url: urlOf(names.partitioned), stored: 0 },
      { label: 'unpartitioned', url: urlOf(names.unpartitioned), stored: 0 },
    ];
    const tenantIds = Array.from({ length: TENANTS }, (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`);
    const liveDayMs = firstDayMs + (DAYS - 1) * DAY_MS;

    const rows: SizeRow[] = [];
    for (const size of [0, ...options.sizes]) {
      const ingest = {} as Record<Schema['label'], number>;
      const pageMs = {} as Record<Schema['label'], number>;
      for (const schema of schemas) {
        const fillStarted = performance.now();
        await fill(schema, size, tenantIds, firstDayMs);
        if (size > 0) options.log(`${schema.label}: ${size} events stored (filled in ${((performance.now() - fillStarted) / 1000).toFixed(0)} s)`);
        ingest[schema.label] = (await ingestRun(schema.url, tenantIds, liveDayMs, `${schema.label}-${size}`)).eventsPerSecond;
        pageMs[schema.label] = await pageLatency(schema.url, tenantIds[0]!, firstDayMs);
        options.log(`${schema.label} at ${size}: ingest ${ingest[schema.label].toFixed(0)} events/s, cursor page p50 ${pageMs[schema.label].toFixed(2)} ms`);
      }
      rows.push({ stored: size, ingest, pageMs });
    }

    const footprint: Record<string, { tableMiB: number; indexMiB: number }> = {};
    for (const schema of schemas) footprint[schema.label] = await diskFootprint(schema.url);

    // Dropping the oldest day while ingest runs on the partitioned table.
    const before = await ingestRun(schemas[0]!.url, tenantIds, liveDayMs, 'before-drop');
    const dropStarted = performance.now();
    const during = ingestRun(schemas[0]!.url, tenantIds, liveDayMs, 'during-drop');
    const round = await runRetentionRound(partitionedPool, [], firstDayMs + DAY_MS, { batchRows: 5000, pauseMs: 0, budgetMs: 60_000, statementTimeoutMs: 600_000 });
    const dropMs = performance.now() - dropStarted;
    const duringDrop = await during;
    await partitionedPool.end();

    const base = rows[0]!;
    const lines = [
      '',
      '## Data lifecycle at scale (npm run bench -- --scale)',
      '',
      '| events stored | partitioned ingest events/s | x empty | unpartitioned ingest events/s | x empty | cursor page p50, partitioned | unpartitioned |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (row) =>
          `| ${row.stored.toLocaleString('en-US')} | ${row.ingest.partitioned.toFixed(0)} | ${(row.ingest.partitioned / base.ingest.partitioned).toFixed(2)} | ${row.ingest.unpartitioned.toFixed(0)} | ${(row.ingest.unpartitioned / base.ingest.unpartitioned).toFixed(2)} | ${row.pageMs.partitioned.toFixed(2)} ms | ${row.pageMs.unpartitioned.toFixed(2)} ms |`,
      ),
      '',
      `Dropping one day's partition (${round?.droppedPartitions.join(', ') ?? 'none'}, ~${Math.round(round?.droppedRows ?? 0).toLocaleString('en-US')} rows): ${dropMs.toFixed(0)} ms from the start of the round` +
        ` (the round also finds each tenant's oldest event); ingest p99 per ${BATCH}-event batch ${before.p99Ms.toFixed(0)} ms before, ${duringDrop.p99Ms.toFixed(0)} ms while it ran.`,
      '',
      '| at the largest size | table | indexes |',
      '|---|---:|---:|',
      ...Object.entries(footprint).map(([label, size]) => `| ${label} | ${size.tableMiB.toFixed(0)} MiB | ${size.indexMiB.toFixed(0)} MiB |`),
      '',
    ];
    options.log(lines.join('\n'));
    return { rows, footprint, drop: { ms: dropMs, partitions: round?.droppedPartitions, p99BeforeMs: before.p99Ms, p99DuringMs: duringDrop.p99Ms } };
  } finally {
    for (const name of Object.values(names)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await server.stop();
  }
}

/** Adds generated events (generate_series, in chunks, the indexes built after: fillWithoutIndexes) until the schema holds `size`, spread evenly over the 30 days. */
async function fill(schema: Schema, size: number, tenantIds: readonly string[], firstDayMs: number): Promise<void> {
  if (size <= schema.stored) return;
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  try {
    await fillWithoutIndexes(client, async () => {
    for (let from = schema.stored + 1; from <= size; from += FILL_CHUNK) {
      const to = Math.min(size, from + FILL_CHUNK - 1);
      await client.query(
        `INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
         SELECT ($1::uuid[])[1 + g % ${TENANTS}], 'stored-' || g, to_timestamp($2::float8 / 1000) + ((g * 7919) % ${DAYS * 86_400}) * interval '1 second',
                (ARRAY['log', 'metric', 'trace'])[1 + g % 3], 'service-' || lpad((g % 20)::text, 2, '0'), jsonb_build_object('level', 'info', 'n', g)
         FROM generate_series($3::bigint, $4::bigint) AS g`,
        [tenantIds, firstDayMs, from, to],
      );
    }
    });
    await client.query('VACUUM ANALYZE events');
    schema.stored = size;
  } finally {
    await client.end();
  }
}

/** COPY + MERGE of fresh events into the newest day, CONNECTIONS connections at once; events/s and per-batch p99. */
async function ingestRun(url: string, tenantIds: readonly string[], dayMs: number, run: string): Promise<{ eventsPerSecond: number; p99Ms: number }> {
  const latencies: number[] = [];
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(CREATE_STAGING);
      return client;
    }),
  );
  const started = performance.now();
  try {
    await Promise.all(
      clients.map(async (client, lane) => {
        for (let batch = 0; batch < INGEST_BATCHES; batch++) {
          const tenantId = tenantIds[(lane + batch) % tenantIds.length]!;
          let text = '';
          for (let i = 0; i < BATCH; i++) {
            const us = BigInt(dayMs + ((lane * INGEST_BATCHES + batch) * BATCH + i) % DAY_MS) * 1000n;
            text += `1\t${run}-${lane}-${batch}-${i}\t${new Date(Number(us / 1000n)).toISOString()}\tlog\tservice-01\t{"level": "info", "n": ${i}}\n`;
          }
          const batchStarted = performance.now();
          await client.query('BEGIN');
          await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom(COPY_INTO_STAGING)));
          await client.query(MERGE, mergeArguments([tenantId]));
          await client.query('COMMIT');
          latencies.push(performance.now() - batchStarted);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return { eventsPerSecond: (CONNECTIONS * INGEST_BATCHES * BATCH) / seconds, p99Ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]! };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

/** The median of PAGES keyset pages of 100 events (newest first) after random positions in the 30 days, one tenant. */
async function pageLatency(url: string, tenantId: string, firstDayMs: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const times: number[] = [];
    for (let i = 0; i < PAGES; i++) {
      const atMs = firstDayMs + Math.floor(((i * 7919) % 1000) / 1000 * DAYS * DAY_MS);
      const query = pageQuery(
        { tenantId, filter: { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined }, order: 'newest-first', retentionCutoffUs: undefined },
        { after: { timestampUs: BigInt(atMs) * 1000n, eventId: 'stored-~' }, limit: 100, payloadAsJson: true, countTotal: false },
        65_536,
      );
      const started = performance.now();
      await client.query(query.text, query.values);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    await client.end();
  }
}

/** Table (heap + TOAST) and index bytes of events and all its partitions, in MiB. */
async function diskFootprint(url: string): Promise<{ tableMiB: number; indexMiB: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ table_bytes: string; index_bytes: string }>(
      `SELECT sum(pg_table_size(relid))::bigint AS table_bytes, sum(pg_indexes_size(relid))::bigint AS index_bytes
         FROM (SELECT relid FROM pg_partition_tree('events') UNION SELECT 'events'::regclass) AS t(relid)`,
    );
    const mib = (text: string): number => Number(text) / 1024 / 1024;
    return { tableMiB: mib(result.rows[0]!.table_bytes), indexMiB: mib(result.rows[0]!.index_bytes) };
  } finally {
    await client.end();
  }
}
