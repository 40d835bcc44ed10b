/**
 * The rollups' figures (issue 16; docs/performance.md, "Rollups"), talking to
 * PostgreSQL directly with the server's own statements:
 *
 *   ingest:    the server's merge with no rollups, with the append-only deltas
 *              (what the server runs) and with an upsert-in-place layout,
 *              on a hot minute (16 connections of one tenant writing the same
 *              minute) and on the bench's usual spread of timestamps;
 *   aggregate: Aggregate by type, service and 1-hour bucket over one tenant
 *              of 1M and of 30M events (6 days), through the rollups and
 *              through the scan, in the same run (EventQueryRepository with
 *              the path forced), over the whole tenant and over its last day.
 *
 * `npm run bench -- --aggregate-scale` runs it alone at full size (the 30M
 * rows are made with generate_series: minutes, not hours); with
 * `--aggregate-events N[,N...]` only the Aggregate phase, at those sizes;
 * `--quick` runs a small form after the rest.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { AggregateCount } from '../../src/domain/query/event-reader';
import { EventQueryRepository, type AggregatePath } from '../../src/storage/event-query-repository';
import { ROLLUP_DELTAS_CTE } from '../../src/storage/event-rollups-sql';
import { COPY_INTO_STAGING, CREATE_STAGING, MERGE, mergeArguments } from '../../src/storage/event-writer';
import { credentials, Metadata } from '@grpc/grpc-js';
import { AdminService } from '../../src/domain/tenants/admin-service';
import { microsToTimePoint, timePointToMicros } from '../../src/domain/query/time-point';
import { AggregateRequest, GroupBy, QueryServiceClient, type AggregateResponse } from '../../src/gen/telemetry/v1/query_service';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { TenantRepository } from '../../src/storage/tenant-repository';
import { fillWithoutIndexes } from './bulk-fill';
import { connectAll } from './database-baselines';
import { VaultProcess } from './vault-process';
import { benchEvent, EVENT_TYPES, SERVICES, toCopyRow } from './event-shape';

export interface RollupBenchSizes {
  readonly rounds: number;
  /** Hot minute: batches of 100 events per connection (16 connections). */
  readonly hotBatchesPerConnection: number;
  /** Spread: events in all (4 connections, 1000 per batch). */
  readonly spreadEvents: number;
  /** Aggregate: the tenants' sizes, one tenant each. */
  readonly aggregateTenantEvents: readonly number[];
  readonly rollupSamples: number;
  readonly scanSamples: number;
}

export const ROLLUP_BENCH_SIZES: Record<'full' | 'quick', RollupBenchSizes> = {
  full: { rounds: 3, hotBatchesPerConnection: 40, spreadEvents: 200_000, aggregateTenantEvents: [1_000_000, 30_000_000], rollupSamples: 21, scanSamples: 3 },
  quick: { rounds: 1, hotBatchesPerConnection: 5, spreadEvents: 20_000, aggregateTenantEvents: [100_000], rollupSamples: 5, scanSamples: 3 },
};

/** How the merge keeps the rollups. */
type Layout = 'none' | 'deltas' | 'upsert';
const LAYOUTS: readonly Layout[] = ['none', 'deltas', 'upsert'];

/** The server's merge without the rollups' CTE. */
const MERGE_WITHOUT_ROLLUPS = MERGE.replace(ROLLUP_DELTAS_CTE, '');
/**
 * The layout not taken: the same counts upserted in place into one row per
 * key (in key order, so that concurrent merges cannot deadlock). Each merge
 * holds its keys' row locks until its COMMIT: concurrent merges of one
 * tenant's minute queue behind each other.
 */
const MERGE_UPSERT = MERGE.replace(
  ROLLUP_DELTAS_CTE,
  ROLLUP_DELTAS_CTE.replace('INSERT INTO event_rollup_deltas', 'INSERT INTO event_rollups').replace(
    'GROUP BY 1, 2, 3, 4',
    'GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  ON CONFLICT (tenant_id, minute, event_type, service_name) DO UPDATE SET events = event_rollups.events + excluded.events',
  ),
);
const MERGES: Record<Layout, string> = { none: MERGE_WITHOUT_ROLLUPS, deltas: MERGE, upsert: MERGE_UPSERT };

export interface IngestFigure {
  readonly scenario: string;
  readonly layout: Layout;
  readonly eventsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface AggregateFigure {
  readonly tenantEvents: number;
  readonly range: string;
  readonly rollupRows: number;
  readonly resultRows: number;
  readonly rollupsP50Ms: number;
  /** The bench's own CPU per rollups call (EventQueryRepository: reading and ordering the rows), ms. */
  readonly rollupsCpuMs: number;
  /** The same request end to end: a gRPC client (this process) calling the server (a process of its own). */
  readonly grpcP50Ms: number;
  /** CPU per gRPC call, ms: the server's (reading, ordering, encoding), the client's (decoding). */
  readonly grpcServerCpuMs: number;
  readonly grpcClientCpuMs: number;
  readonly scanP50Ms: number;
  /** Whether both paths gave the same rows. */
  readonly identical: boolean;
}

export interface RollupBenchReport {
  readonly ingest: IngestFigure[];
  readonly aggregate: AggregateFigure[];
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function createTenant(db: pg.Client, name: string): Promise<string> {
  return (await db.query<{ id: string }>('INSERT INTO tenants (name) VALUES ($1) RETURNING id::text AS id', [name])).rows[0]!.id;
}

interface Scenario {
  readonly name: string;
  readonly connections: number;
  readonly batches: number;
  readonly batchSize: number;
  /** Event i's timestamp in the run. */
  readonly timestampMicros: (i: number, base: number) => number;
}

/**
 * One (scenario, layout) round: every connection merges its batches, one
 * transaction each, all at once. Events of a run get ids of their own, and
 * a minute of their own for the hot scenario.
 */
async function ingestRound(url: string, tenantId: string, scenario: Scenario, layout: Layout, run: string, baseMicros: number): Promise<{ eventsPerSecond: number; latencies: number[] }> {
  const clients = await connectAll(url, scenario.connections, CREATE_STAGING);
  try {
    const lanes = clients.map((_, lane) =>
      Array.from({ length: scenario.batches }, (_, batch) => {
        const first = (batch * scenario.connections + lane) * scenario.batchSize;
        const rows = Array.from({ length: scenario.batchSize }, (_, k) => toCopyRow({ ...benchEvent(run, first + k), timestampMicros: scenario.timestampMicros(first + k, baseMicros) }));
        return Buffer.from(rows.join(''));
      }),
    );
    const latencies: number[] = [];
    const startedAt = performance.now();
    await Promise.all(
      clients.map(async (client, lane) => {
        for (const text of lanes[lane]!) {
          const began = performance.now();
          await client.query('BEGIN');
          await pipeline(Readable.from([text]), client.query(copyFrom(COPY_INTO_STAGING)));
          await client.query(MERGES[layout], mergeArguments([tenantId]));
          await client.query('COMMIT');
          latencies.push(performance.now() - began);
        }
      }),
    );
    const events = scenario.connections * scenario.batches * scenario.batchSize;
    return { eventsPerSecond: events / ((performance.now() - startedAt) / 1000), latencies };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

const MINUTE_MICROS = 60_000_000;
const DAY_MICROS = 86_400_000_000;

async function ingestPhase(url: string, db: pg.Client, sizes: RollupBenchSizes, log: (line: string) => void): Promise<IngestFigure[]> {
  const tenantId = await createTenant(db, 'rollup-bench-ingest');
  const scenarios: Scenario[] = [
    // 16 streams of one tenant, 100 events per message, all in one minute.
    { name: 'hot minute: 16 connections, one tenant, 100/batch', connections: 16, batches: sizes.hotBatchesPerConnection, batchSize: 100, timestampMicros: (i, base) => base + ((i * 7919) % MINUTE_MICROS) },
    // The bench's usual shape: 0.5 s apart.
    { name: 'spread: 4 connections, one tenant, 1000/batch', connections: 4, batches: Math.ceil(sizes.spreadEvents / 4000), batchSize: 1000, timestampMicros: (i, base) => base + i * 500_000 },
  ];
  const figures: IngestFigure[] = [];
  let run = 0;
  for (const scenario of scenarios) {
    const results = new Map<Layout, { rates: number[]; latencies: number[] }>(LAYOUTS.map((layout) => [layout, { rates: [], latencies: [] }]));
    for (let round = 0; round < sizes.rounds; round++) {
      // Each round in another order, so that no layout always meets the largest table.
      const order = LAYOUTS.map((_, k) => LAYOUTS[(k + round) % LAYOUTS.length]!);
      for (const layout of order) {
        run++;
        const result = await ingestRound(url, tenantId, scenario, layout, `rb${run}`, Date.UTC(2026, 0, 1) * 1000 + run * DAY_MICROS);
        results.get(layout)!.rates.push(result.eventsPerSecond);
        results.get(layout)!.latencies.push(...result.latencies);
      }
    }
    for (const layout of LAYOUTS) {
      const { rates, latencies } = results.get(layout)!;
      const figure = { scenario: scenario.name, layout, eventsPerSecond: quantile(rates, 0.5), p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
      figures.push(figure);
      log(`rollups ingest, ${scenario.name}, ${layout}: ${Math.round(figure.eventsPerSecond)} events/s, transaction p50 ${figure.p50Ms.toFixed(1)} ms, p99 ${figure.p99Ms.toFixed(1)} ms`);
    }
  }
  return figures;
}

/**
 * `count` events of one tenant over 6 days (6 x 24 hours x 3 types x 20
 * services: 8 640 result rows, under Aggregate's default bound of 10 000), made by PostgreSQL itself
 * (generate_series, 1M rows a statement, in timestamp and id order, with
 * the indexes built after: fillWithoutIndexes), then counted into the compacted rollups in one pass, as the migration does for
 * existing rows.
 */
async function generateTenant(db: pg.Client, tenantId: string, count: number, log: (line: string) => void): Promise<void> {
  const base = '2026-01-01T00:00:00Z';
  await fillWithoutIndexes(db, async () => {
  for (let from = 0; from < count; from += 1_000_000) {
    const to = Math.min(count, from + 1_000_000) - 1;
    await db.query(
      `INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
       SELECT $1::uuid, lpad(i::text, 10, '0'), $2::timestamptz + (i * (518400.0 / $3)) * interval '1 second',
              ($4::text[])[1 + i % 3], ($5::text[])[1 + (i * 7) % 20], '{"level":"info"}'::jsonb
       FROM generate_series($6::bigint, $7::bigint) AS i`,
      [tenantId, base, count, EVENT_TYPES, SERVICES, from, to],
    );
    if (count > 1_000_000) log(`rollups aggregate: ${to + 1} of ${count} events generated`);
  }
  });
  await db.query(
    `INSERT INTO event_rollups (tenant_id, minute, event_type, service_name, events)
     SELECT tenant_id, date_bin('1 minute', "timestamp", TIMESTAMPTZ 'epoch'), event_type, service_name, count(*) FROM events WHERE tenant_id = $1 GROUP BY 1, 2, 3, 4`,
    [tenantId],
  );
  await db.query(
    `INSERT INTO event_rollups_hourly (tenant_id, hour, event_type, service_name, events)
     SELECT tenant_id, date_bin('1 hour', minute, TIMESTAMPTZ 'epoch'), event_type, service_name, sum(events) FROM event_rollups WHERE tenant_id = $1 GROUP BY 1, 2, 3, 4`,
    [tenantId],
  );
}

/** This process's user + system CPU, ms. */
function cpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

async function timeAggregate(repository: EventQueryRepository, tenantId: string, startUs: bigint | undefined, samples: number): Promise<{ p50: number; cpuMs: number; rows: AggregateCount[] }> {
  const budget = { timeoutMs: 3_600_000, signal: new AbortController().signal };
  const filter = { startUs, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined };
  const times: number[] = [];
  let rows: AggregateCount[] = [];
  // One call first, not counted: a long-running server has its code compiled and its connections warm.
  await repository.aggregate({ tenantId, filter }, { byEventType: true, byServiceName: true, bucketUs: 3_600_000_000n }, 10_001, budget);
  const cpuBefore = cpuMs();
  for (let sample = 0; sample < samples; sample++) {
    const began = performance.now();
    rows = await repository.aggregate({ tenantId, filter }, { byEventType: true, byServiceName: true, bucketUs: 3_600_000_000n }, 10_001, budget);
    times.push(performance.now() - began);
  }
  return { p50: quantile(times, 0.5), cpuMs: (cpuMs() - cpuBefore) / samples, rows };
}

/** A server (a process of its own) and a gRPC client of it, for the end-to-end figure. */
interface GrpcTarget {
  readonly vault: VaultProcess;
  readonly client: QueryServiceClient;
}

/**
 * The same request over gRPC, as a client sees it: the server reads the
 * rollups (its path is chosen as in production: the request is aligned),
 * orders and encodes the rows; the client decodes them. Returns the rows as
 * the repository gives them, to check them against the scan.
 */
async function timeAggregateOverGrpc(target: GrpcTarget, key: string, startUs: bigint | undefined, samples: number): Promise<{ p50: number; serverCpuMs: number; clientCpuMs: number; rows: AggregateCount[] }> {
  const request = AggregateRequest.fromPartial({
    filter: startUs === undefined ? undefined : { startTime: microsToTimePoint(startUs) },
    groupBy: [GroupBy.GROUP_BY_EVENT_TYPE, GroupBy.GROUP_BY_SERVICE_NAME],
    bucket: { seconds: 3600, nanos: 0 },
  });
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  const call = (): Promise<AggregateResponse> => new Promise((resolve, reject) => target.client.aggregate(request, metadata, (error, response) => (error ? reject(error) : resolve(response))));
  const times: number[] = [];
  let response = await call();
  const clientBefore = cpuMs();
  const measured = await target.vault.measure(async () => {
    for (let sample = 0; sample < samples; sample++) {
      const began = performance.now();
      response = await call();
      times.push(performance.now() - began);
    }
  });
  const rows = response.rows.map((row) => ({ eventType: row.eventType, serviceName: row.serviceName, bucketStartUs: row.bucketStart === undefined ? undefined : timePointToMicros(row.bucketStart, 'bucket_start'), count: row.count }));
  return { p50: quantile(times, 0.5), serverCpuMs: (measured.cpuSeconds * 1000) / samples, clientCpuMs: (cpuMs() - clientBefore) / samples, rows };
}

/** Rows as comparable text (the gRPC client sees '' where the repository has undefined). */
function rowsText(rows: readonly AggregateCount[]): string {
  return JSON.stringify(rows.map((row) => [row.bucketStartUs?.toString(), row.eventType ?? '', row.serviceName ?? '', String(row.count)]));
}

async function aggregatePhase(url: string, db: pg.Client, sizes: RollupBenchSizes, log: (line: string) => void): Promise<AggregateFigure[]> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const repository = (path: AggregatePath): EventQueryRepository => new EventQueryRepository(pool, 3_600_000, 1 << 20, undefined, path);
  const admin = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
  const vault = new VaultProcess({ DATABASE_URL: url, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', OTLP_GRPC_PORT: '0', OTLP_HTTP_PORT: '0' });
  const figures: AggregateFigure[] = [];
  let client: QueryServiceClient | undefined;
  try {
    client = new QueryServiceClient(`127.0.0.1:${(await vault.serving).grpcPort}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
    for (const count of sizes.aggregateTenantEvents) {
      // Unlimited rates: the bench times queries, not the rate limiter.
      const tenant = await admin.createTenant({ name: `rollup-bench-${count}`, callsPerMinute: 1_000_000_000, eventsPerSecond: 1_000_000_000, eventBurst: 1_000_000_000 });
      const tenantId = tenant.id;
      const { key } = await admin.createKey(tenantId);
      const began = performance.now();
      await generateTenant(db, tenantId, count, log);
      await db.query('VACUUM ANALYZE event_rollups, event_rollups_hourly');
      await db.query('ANALYZE events');
      log(`rollups aggregate: ${count} events and their rollups made in ${Math.round((performance.now() - began) / 1000)} s`);
      const lastDayUs = BigInt(Date.UTC(2026, 0, 6)) * 1000n;
      for (const [range, startUs] of [['the whole tenant (6 days)', undefined], ['its last day', lastDayUs]] as const) {
        const fromRollups = await timeAggregate(repository('rollups'), tenantId, startUs, sizes.rollupSamples);
        const overGrpc = await timeAggregateOverGrpc({ vault, client }, key, startUs, sizes.rollupSamples);
        const fromScan = await timeAggregate(repository('scan'), tenantId, startUs, sizes.scanSamples);
        const rollupRows = (await db.query<{ n: string }>(`SELECT count(*) AS n FROM event_rollups_hourly WHERE tenant_id = $1 AND hour >= coalesce($2::timestamptz, '-infinity')`, [tenantId, startUs === undefined ? null : new Date(Number(startUs / 1000n)).toISOString()])).rows[0]!.n;
        const figure = {
          tenantEvents: count,
          range,
          rollupRows: Number(rollupRows),
          resultRows: fromScan.rows.length,
          rollupsP50Ms: fromRollups.p50,
          rollupsCpuMs: fromRollups.cpuMs,
          grpcP50Ms: overGrpc.p50,
          grpcServerCpuMs: overGrpc.serverCpuMs,
          grpcClientCpuMs: overGrpc.clientCpuMs,
          scanP50Ms: fromScan.p50,
          identical: rowsText(fromRollups.rows) === rowsText(fromScan.rows) && rowsText(overGrpc.rows) === rowsText(fromScan.rows),
        };
        figures.push(figure);
        log(
          `rollups aggregate, ${count} events, ${range}: rollups ${figure.rollupsP50Ms.toFixed(1)} ms (${figure.rollupsCpuMs.toFixed(1)} ms CPU), ` +
            `over gRPC ${figure.grpcP50Ms.toFixed(1)} ms (server ${figure.grpcServerCpuMs.toFixed(1)} ms CPU, client ${figure.grpcClientCpuMs.toFixed(1)} ms CPU), scan ${figure.scanP50Ms.toFixed(0)} ms (${figure.resultRows} rows; identical: ${figure.identical})`,
        );
      }
    }
  } finally {
    client?.close();
    await vault.stop();
    await pool.end();
  }
  return figures;
}

/** Runs both phases (or only Aggregate's, `ingest` false) on the (migrated) database at `url`. */
export async function runRollupBench(url: string, sizes: RollupBenchSizes, log: (line: string) => void, ingestToo = true): Promise<RollupBenchReport> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const ingest = ingestToo ? await ingestPhase(url, db, sizes, log) : [];
    const aggregate = await aggregatePhase(url, db, sizes, log);
    return { ingest, aggregate };
  } finally {
    await db.end();
  }
}

/** The report's tables, in the markdown of the main report. */
export function formatRollupReport(report: RollupBenchReport): string {
  const lines = ['', '## Rollups (issue 16)', '', '| ingest scenario | rollups | events/s | vs no rollups | transaction p50 ms | p99 ms |', '|---|---|---:|---:|---:|---:|'];
  for (const figure of report.ingest) {
    const none = report.ingest.find((other) => other.scenario === figure.scenario && other.layout === 'none')!;
    lines.push(`| ${figure.scenario} | ${figure.layout} | ${Math.round(figure.eventsPerSecond)} | ${(figure.eventsPerSecond / none.eventsPerSecond).toFixed(2)}x | ${figure.p50Ms.toFixed(1)} | ${figure.p99Ms.toFixed(1)} |`);
  }
  lines.push(
    '',
    '| Aggregate by type, service, 1 h | range | hourly rollup rows | result rows | rollups p50 ms | rollups CPU ms | over gRPC p50 ms | server CPU ms | client CPU ms | scan p50 ms | scan / gRPC | identical |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const figure of report.aggregate) {
    lines.push(
      `| ${figure.tenantEvents.toLocaleString('en-US')} events | ${figure.range} | ${figure.rollupRows} | ${figure.resultRows} | ${figure.rollupsP50Ms.toFixed(1)} | ${figure.rollupsCpuMs.toFixed(1)} | ${figure.grpcP50Ms.toFixed(1)} | ${figure.grpcServerCpuMs.toFixed(1)} | ${figure.grpcClientCpuMs.toFixed(1)} | ${figure.scanP50Ms.toFixed(0)} | ${(figure.scanP50Ms / figure.grpcP50Ms).toFixed(0)}x | ${figure.identical ? 'yes' : 'NO'} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
