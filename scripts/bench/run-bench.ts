/**
 * `npm run bench` (and `npm run bench -- --quick`): ingest and query speed of
 * the vault against PostgreSQL's own ceiling and the naive approach, all in
 * one run, on one database. Three processes: this orchestrator (database
 * administration, sampling the server's CPU and memory, the report), the
 * vault server (`telemetry-vault serve`, the built dist/), and the load
 * generator (load-generator.ts). See docs/performance.md.
 *
 * Options: --quick (small sizes, one round, well under a minute),
 * --rounds N, --out FILE (the JSON report; default bench-results/<time>.json),
 * --only ingest|query|follow (follow: the live tail phase alone), --scale [--scale-rows 10000000,30000000] (the data
 * lifecycle at scale instead, scale-bench.ts),
 * --aggregate-scale (only the rollups' figures, at full
 * size: 1M and 30M events; see rollup-bench.ts), --aggregate-events N[,N...]
 * (only its Aggregate phase, at those sizes), --instances (only the scale-out table: 1, 2 and 3
 * instances on one database, scale-instances.ts). BENCH_DATABASE_URL: a PostgreSQL superuser URL to use
 * instead of a new embedded PostgreSQL (a database of its own is created in it
 * and dropped at the end).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config/load-config';
import { CursorCodec } from '../../src/domain/query/cursor-codec';
import { queryScope } from '../../src/domain/query/query-scope';
import { validateEventFilter } from '../../src/domain/query/validate-event-filter';
import { runMigrations } from '../../src/storage/run-migrations';
import { createBenchTenants, openBenchDatabase, type BenchTenant } from './bench-database';
import { runScaleBench } from './scale-bench';
import type { PayloadMode } from './event-shape';
import { clientCpuMicrosPerCall, formatReport, LATENCY_WARMUP_SECONDS, median, type FollowReport, type LiveTailWriterCost, type BenchReport, type CallersResult, type TransportFloor, type IngestRound, type IngestScenario, type LatencyResult, type LoadSweepPoint, SMALL_UNARY_BATCH, servedByVault, type SdkComparison, type SdkComparisonRound, type SdkComparisonRun, type MachineReport, type QueryReport, type UnaryCallFigures } from './format-report';
import type { BaselineResult } from './database-baselines';
import type { IngestOutcome, OtlpOutcome, QueryCase } from './load-generator';
import { LoadGenerator } from './load-generator-process';
import { postgresCpuSeconds } from './proc-stat';
import { formatRollupReport, ROLLUP_BENCH_SIZES, runRollupBench } from './rollup-bench';
import { formatInstances, instancesPhase } from './scale-instances';
import { VaultProcess, type Measured } from './vault-process';

const SIZES = {
  full: {
    rounds: 3,
    ceilingEvents: 200_000,
    naiveEvents: 100_000,
    vaultEvents: 200_000,
    eventsPerCall: 20_000,
    sdkEvents: 50_000,
    latencySeconds: 10,
    sweepShares: [0.5, 0.65, 0.8],
    callerEvents: 200_000,
    callerSeconds: 10,
    queryTenantEvents: 1_000_000,
    otherTenantEvents: 100_000,
    cursorDepths: [1, 10, 100, 1000, 10_000],
    offsetDepths: [1, 10, 100, 1000],
    cursorSamples: 60,
    offsetSamples: 20,
    aggregateSamples: 5,
    streamRounds: 3,
    followSeconds: 10,
    followRate: 2000,
    followIngestEvents: 200_000,
    liveTailCostEvents: 100_000,
  },
  quick: {
    rounds: 1,
    ceilingEvents: 20_000,
    naiveEvents: 10_000,
    vaultEvents: 20_000,
    eventsPerCall: 10_000,
    sdkEvents: 20_000,
    latencySeconds: 2,
    sweepShares: [0.5],
    callerEvents: 20_000,
    callerSeconds: 2,
    queryTenantEvents: 20_000,
    otherTenantEvents: 2_000,
    cursorDepths: [1, 10, 100],
    offsetDepths: [1, 10, 100],
    cursorSamples: 20,
    offsetSamples: 10,
    aggregateSamples: 3,
    streamRounds: 1,
    followSeconds: 2,
    followRate: 1000,
    followIngestEvents: 20_000,
    liveTailCostEvents: 20_000,
  },
};
type Sizes = (typeof SIZES)['full'];

const CEILING_CONNECTIONS = [2, 4];
const NAIVE_CONNECTIONS = [1, 4];
const NAIVE_ROWS_PER_STATEMENT = 100;
const VAULT_STREAMS = [1, 4, 16];
const VAULT_BATCHES = [100, 1000];
const VAULT_PAYLOADS: PayloadMode[] = ['json', 'struct'];
/** Small unary calls (issue 12): this many concurrent callers, each sending calls of this many events. */
const UNARY_CALLERS = 64;
const UNARY_CALLER_BATCH = 10;
/** OTLP logs over gRPC: the SDK batch processor's default request size, on 4 and 16 concurrent exporters. */
const OTLP_STREAMS = [4, 16];
const OTLP_BATCH = 512;
/**
 * The OTLP target's breakdown: native unary Ingest calls of the 16-exporter
 * row's shape (this many closed-loop callers of OTLP_BATCH events), once
 * with the bench's events and once with the events the OTLP mapping makes of
 * that row's requests, so the report can say what the call shape, the
 * contract's events and the OTLP receiver itself each cost (otlpGap).
 */
const OTLP_GAP_CALLERS = 16;
/**
 * The Node.js client (clients/node), compared with the raw generated client
 * doing the same work (4 producers, 1000/message, payload_json) in
 * interleaved rounds of their own, after a warm-up round: at least this many
 * rounds (more with --rounds), each of two short runs (sizes.sdkEvents), so
 * that the two runs of a pair lie close in time. One pair's ratio moves
 * 0.7-1.3x with this machine's speed; the median of 9 pairs is what the
 * target can judge (docs/performance.md, "SDK").
 */
const SDK_INGESTERS = 4;
const SDK_ROUNDS = 9;
const SDK_RAW_BATCH = 1000;
/** Live tail: messages of this many events at the follow latency's steady rate; followers of one tenant and filter while ingest runs flat out. */
const FOLLOW_BATCH = 100;
const FOLLOWERS = 50;
const FOLLOW_INGEST_STREAMS = 4;
const FOLLOW_INGEST_BATCH = 1000;
/**
 * Live tail's cost to ingest with nobody following: the writer's statements
 * (the ceiling path) with live tail and without, on this many connections, at
 * the server's batch size and at small groups of 10 events (what group commit
 * writes under light load, where the per-transaction cost weighs most; a
 * tenth of the events). Rounds alternate the order; at least this many.
 */
const LIVE_TAIL_COST_CONNECTIONS = 4;
const LIVE_TAIL_COST_SMALL_BATCH = 10;
const LIVE_TAIL_COST_ROUNDS = 3;
const PAGE_LIMIT = 100;
const ROOT = path.resolve(__dirname, '../..');
const silent = pino({ level: 'silent' });

interface Options {
  readonly quick: boolean;
  readonly sizes: Sizes;
  readonly out: string;
  /** --only: ingest (with live tail and the call phases), query, or follow (the live tail phase alone). */
  readonly only: 'ingest' | 'query' | 'follow' | undefined;
  readonly aggregateScale: boolean;
  /** --aggregate-events: the Aggregate phase alone, at these tenant sizes. */
  readonly aggregateEvents: number[] | undefined;
  readonly instances: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, out: { type: 'string' }, only: { type: 'string' }, 'aggregate-scale': { type: 'boolean', default: false }, 'aggregate-events': { type: 'string' }, instances: { type: 'boolean', default: false } },
  });
  const quick = values.quick ?? false;
  const sizes: Sizes = { ...SIZES[quick ? 'quick' : 'full'] };
  if (values.rounds !== undefined) sizes.rounds = Number(values.rounds);
  if (!Number.isInteger(sizes.rounds) || sizes.rounds < 1) throw new Error('--rounds must be a whole number >= 1');
  if (values.only !== undefined && values.only !== 'ingest' && values.only !== 'query' && values.only !== 'follow') throw new Error('--only must be ingest, query or follow');
  const aggregateEvents = values['aggregate-events']?.split(',').map(Number);
  if (aggregateEvents?.some((count) => !Number.isSafeInteger(count) || count < 1)) throw new Error('--aggregate-events must be a list of whole numbers >= 1, such as 1000000,30000000');
  const aggregateScale = (values['aggregate-scale'] ?? false) || aggregateEvents !== undefined;
  const suffix = aggregateScale ? '-aggregate-scale' : quick ? '-quick' : '';
  const out = values.out ?? path.join(ROOT, 'bench-results', `${new Date().toISOString().replace(/[:.]/g, '-')}${suffix}.json`);
  return { quick, sizes, out, only: values.only as Options['only'], aggregateScale, aggregateEvents, instances: values.instances ?? false };
}

/** `--scale`: the data lifecycle at scale (scripts/bench/scale-bench.ts), its own mode: it takes minutes. */
async function scaleMain(): Promise<void> {
  const { values } = parseArgs({ options: { scale: { type: 'boolean' }, 'scale-rows': { type: 'string', default: '10000000,30000000' }, out: { type: 'string' } } });
  const sizes = values['scale-rows']!.split(',').map(Number);
  if (sizes.some((size) => !Number.isInteger(size) || size < 1)) throw new Error('--scale-rows must be whole numbers >= 1, comma-separated');
  const result = await runScaleBench({ sizes: sizes.sort((a, b) => a - b), adminUrl: process.env.BENCH_DATABASE_URL, log });
  const out = values.out ?? path.join(ROOT, 'bench-results', `${new Date().toISOString().replace(/[:.]/g, '-')}-scale.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  log(`report: ${out}`);
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

interface Context {
  readonly sizes: Sizes;
  readonly loadGenerator: LoadGenerator;
  readonly vault: VaultProcess;
  readonly db: pg.Client;
  readonly tenants: readonly BenchTenant[];
  readonly target: string;
  readonly databaseUrl: string;
  readonly serverBatchSize: number;
  readonly cursorSecret: string;
  readonly queryLimits: Config['query'];
}

/** Empties events and checkpoints, so that every measurement starts from the same table. */
async function resetTable(db: pg.Client): Promise<void> {
  await db.query('TRUNCATE events');
  await db.query('CHECKPOINT').catch(() => undefined);
}

async function countEvents(db: pg.Client): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);
}

/**
 * The transactions that stored the table's rows (their distinct xmin): with
 * the calls made, how many calls group commit put in one transaction.
 */
async function countCommits(db: pg.Client): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM events')).rows[0]!.n);
}

type ScenarioSpec = Omit<IngestScenario, 'rounds' | 'eventsPerSecond' | 'serverCpuSecondsPerMillion' | 'serverPeakRssMiB'>;

function runScenario(context: Context, scenario: ScenarioSpec, run: string): Promise<Measured<BaselineResult | IngestOutcome | OtlpOutcome>> {
  const { sizes, loadGenerator, vault, tenants, target, databaseUrl } = context;
  const tenantIds = tenants.map((tenant) => tenant.id);
  const keys = tenants.map((tenant) => tenant.key);
  switch (scenario.path) {
    case 'ceiling':
      return vault.measure(() => loadGenerator.run('ceiling', { url: databaseUrl, run, count: sizes.ceilingEvents, batchSize: scenario.batch!, tenantIds, connections: scenario.connections! }));
    case 'naive':
      return vault.measure(() => loadGenerator.run('naive', { url: databaseUrl, run, count: sizes.naiveEvents, rowsPerStatement: NAIVE_ROWS_PER_STATEMENT, tenantIds, connections: scenario.connections! }));
    case 'otlp':
      return vault.measure(() => loadGenerator.run('otlpIngest', { target, keys, run, streams: scenario.streams!, batch: scenario.batch!, count: sizes.vaultEvents }));
    case 'unary':
      return vault.measure(() =>
        loadGenerator.run('vaultCallers', { target, keys, run, callers: scenario.streams!, batch: scenario.batch!, payload: 'json', events: scenario.events, count: sizes.vaultEvents }),
      );
    case 'vault':
      return vault.measure(() =>
        loadGenerator.run('vaultIngest', { target, keys, run, streams: scenario.streams!, batch: scenario.batch!, payload: scenario.payload!, count: sizes.vaultEvents, eventsPerCall: sizes.eventsPerCall }),
      );
  }
}

async function ingestPhase(context: Context): Promise<IngestScenario[]> {
  const { sizes, db } = context;
  const scenarios: ScenarioSpec[] = [
    ...CEILING_CONNECTIONS.map((connections) => ({ path: 'ceiling' as const, label: `PostgreSQL ceiling, ${connections} connections`, connections, batch: context.serverBatchSize })),
    ...NAIVE_CONNECTIONS.map((connections) => ({ path: 'naive' as const, label: `naive INSERT, ${connections} connection${connections > 1 ? 's' : ''}`, connections, batch: NAIVE_ROWS_PER_STATEMENT })),
    ...VAULT_PAYLOADS.flatMap((payload) =>
      VAULT_BATCHES.flatMap((batch) =>
        VAULT_STREAMS.map((streams) => ({ path: 'vault' as const, label: `vault, ${streams} stream${streams > 1 ? 's' : ''}, ${batch}/message, ${payload === 'json' ? 'payload_json' : 'payload (Struct)'}`, streams, batch, payload })),
      ),
    ),
    ...OTLP_STREAMS.map((streams) => ({ path: 'otlp' as const, label: `OTLP logs over gRPC, ${streams} exporters, ${OTLP_BATCH} records/request`, streams, batch: OTLP_BATCH })),
    ...(['bench', 'otlp'] as const).map((events) => ({
      path: 'unary' as const,
      label: `vault, ${OTLP_GAP_CALLERS} unary callers, ${OTLP_BATCH}/call, payload_json, ${events === 'bench' ? "the bench's events" : 'the events the OTLP rows store'}`,
      streams: OTLP_GAP_CALLERS,
      batch: OTLP_BATCH,
      events,
    })),
  ];
  const rounds = new Map<string, IngestRound[]>(scenarios.map((scenario) => [scenario.label, []]));
  for (let round = 0; round < sizes.rounds; round++) {
    for (const scenario of scenarios) {
      await resetTable(db);
      const run = `r${round}-${scenario.path}-${scenario.connections ?? scenario.streams}-${scenario.batch ?? ''}-${scenario.payload ?? ''}${scenario.events ?? ''}`;
      const databaseBefore = await postgresCpuSeconds(context.databaseUrl);
      const measured = await runScenario(context, scenario, run);
      const databaseCpuSeconds = (await postgresCpuSeconds(context.databaseUrl)) - databaseBefore;
      const { result } = measured;
      const codes = 'codes' in result ? result.codes : undefined;
      const stored = await countEvents(db);
      const expected = result.events;
      if (stored !== expected || (codes && Object.keys(codes).some((code) => code !== 'OK'))) {
        throw new Error(`${scenario.label}: ${stored} rows stored for ${expected} events sent (codes ${JSON.stringify(codes ?? {})})`);
      }
      const eventsPerSecond = result.events / (result.elapsedMs / 1000);
      let entry: IngestRound = { eventsPerSecond, elapsedMs: result.elapsedMs, events: result.events };
      // NaN when PostgreSQL is not on this machine (BENCH_DATABASE_URL elsewhere): no column then.
      if (Number.isFinite(databaseCpuSeconds)) entry = { ...entry, databaseCpuSecondsPerMillion: (databaseCpuSeconds / result.events) * 1e6 };
      if (servedByVault(scenario)) {
        entry = { ...entry, serverCpuSecondsPerMillion: (measured.cpuSeconds / result.events) * 1e6, serverPeakRssMiB: measured.peakRssMiB };
        if ('callLatencyMs' in result) entry = { ...entry, callLatencyMs: result.callLatencyMs };
      }
      rounds.get(scenario.label)!.push(entry);
      log(`round ${round + 1}/${sizes.rounds} ${scenario.label}: ${Math.round(eventsPerSecond)} events/s`);
    }
  }
  return scenarios.map((scenario) => {
    const scenarioRounds = rounds.get(scenario.label)!;
    const databaseCpu = scenarioRounds.map((r) => r.databaseCpuSecondsPerMillion);
    const summary: IngestScenario = {
      ...scenario,
      rounds: scenarioRounds,
      eventsPerSecond: median(scenarioRounds.map((r) => r.eventsPerSecond)),
      ...(databaseCpu.every((cpu) => cpu !== undefined) ? { databaseCpuSecondsPerMillion: median(databaseCpu as number[]) } : {}),
    };
    if (!servedByVault(scenario)) return summary;
    return {
      ...summary,
      serverCpuSecondsPerMillion: median(scenarioRounds.map((r) => r.serverCpuSecondsPerMillion!)),
      serverPeakRssMiB: Math.max(...scenarioRounds.map((r) => r.serverPeakRssMiB!)),
    };
  });
}

/**
 * "SDK, 4 concurrent ingesters" against the raw generated client with the
 * same events, payload form, message size and producers: a warm-up round
 * (not counted: the load generator's first SDK run would pay for compiling
 * the client), then rounds of one run each, the order alternating, so that
 * neither side always inherits the other's garbage in the server or the
 * database. Both start from the application's events, built before the
 * clock (generated Event objects for the raw client, the SDK's inputs for
 * the SDK), and both turn them into bytes inside it: the raw client with the
 * generated codec as it sends each message, the SDK at add(). The target
 * judges the median of the rounds' ratios. Each round ends with a third run,
 * shown beside them: the raw client with every message encoded before its
 * clock (what the transport and server take, no client work at all).
 */
async function sdkPhase(context: Context): Promise<SdkComparison> {
  const { sizes, loadGenerator, vault, db, tenants, target } = context;
  const keys = tenants.map((tenant) => tenant.key);
  const count = sizes.sdkEvents;
  const rounds: SdkComparisonRound[] = [];
  type Which = 'raw' | 'sdk' | 'preEncoded';
  const rawRun = (run: string, encodeInClock: boolean) =>
    loadGenerator.run('vaultIngest', { target, keys, run, streams: SDK_INGESTERS, batch: SDK_RAW_BATCH, payload: 'json', count, eventsPerCall: sizes.eventsPerCall, encodeInClock });
  const measureRun = async (which: Which, run: string): Promise<SdkComparisonRun> => {
    await resetTable(db);
    const measured = which === 'sdk' ? await vault.measure(() => loadGenerator.run('sdkIngest', { target, keys, run, ingesters: SDK_INGESTERS, count })) : await vault.measure(() => rawRun(run, which === 'raw'));
    const { result } = measured;
    const stored = await countEvents(db);
    if (stored !== result.events || Object.keys(result.codes).some((code) => code !== 'OK')) {
      throw new Error(`SDK comparison, ${which}: ${stored} rows stored for ${result.events} events sent (codes ${JSON.stringify(result.codes)})`);
    }
    const messages = 'messages' in result ? result.messages : Math.ceil(count / SDK_INGESTERS / SDK_RAW_BATCH) * SDK_INGESTERS;
    return {
      eventsPerSecond: result.events / (result.elapsedMs / 1000),
      elapsedMs: result.elapsedMs,
      clientCpuMicrosPerEvent: ((result.clientCpuMs ?? Number.NaN) * 1000) / result.events,
      serverCpuMicrosPerEvent: (measured.cpuSeconds * 1e6) / result.events,
      calls: result.calls,
      messages,
      commits: await countCommits(db),
    };
  };
  const total = Math.max(SDK_ROUNDS, sizes.rounds);
  for (let round = -1; round < total; round++) {
    const first = round % 2 === 0 ? 'sdk' : 'raw';
    const runs: Partial<Record<Which, SdkComparisonRun>> = {};
    for (const which of first === 'raw' ? (['raw', 'sdk', 'preEncoded'] as const) : (['sdk', 'raw', 'preEncoded'] as const)) runs[which] = await measureRun(which, `sdk${round + 1}-${which}`);
    const { raw, sdk, preEncoded } = runs as Record<Which, SdkComparisonRun>;
    if (round < 0) {
      log(`SDK comparison, warm-up: raw ${Math.round(raw.eventsPerSecond)}, SDK ${Math.round(sdk.eventsPerSecond)}, raw pre-encoded ${Math.round(preEncoded.eventsPerSecond)} events/s`);
      continue;
    }
    rounds.push({ first, raw, sdk, preEncoded });
    log(
      `SDK comparison, round ${round + 1}/${total}: raw ${Math.round(raw.eventsPerSecond)}, SDK ${Math.round(sdk.eventsPerSecond)} events/s (${(sdk.eventsPerSecond / raw.eventsPerSecond).toFixed(2)}x); raw pre-encoded ${Math.round(preEncoded.eventsPerSecond)}`,
    );
  }
  return {
    ingesters: SDK_INGESTERS,
    events: count,
    sdkLabel: `SDK, ${SDK_INGESTERS} concurrent ingesters (default options)`,
    rawLabel: `raw generated client, ${SDK_INGESTERS} streams, ${SDK_RAW_BATCH}/message, payload_json`,
    preEncodedLabel: `raw generated client, messages encoded before the clock`,
    rounds,
    rawEventsPerSecond: median(rounds.map((r) => r.raw.eventsPerSecond)),
    sdkEventsPerSecond: median(rounds.map((r) => r.sdk.eventsPerSecond)),
    ratio: median(rounds.map((r) => r.sdk.eventsPerSecond / r.raw.eventsPerSecond)),
    preEncodedRatio: median(rounds.map((r) => r.sdk.eventsPerSecond / r.preEncoded.eventsPerSecond)),
  };
}

/**
 * Acknowledgement latency per message (unary Ingest, open loop) at half the
 * vault's peak rate for that message size, after LATENCY_WARMUP_SECONDS at
 * that rate that are not counted: until then the unary path, which the
 * ingest table never ran, is not compiled, and the open loop's queue of the
 * first second took several more to drain (p50 ~260 ms in the first second,
 * ~10 ms from the fourth on, at 20 000 events/s of 100-event calls). The
 * table is emptied and checkpointed before the warm-up, not between it and
 * the clock: right after a CHECKPOINT each page's first change writes the
 * whole page to the WAL (p99 42 ms in a warm-up, 182 ms in the 2 s right
 * after a reset that followed it). Checkpoints that PostgreSQL starts by
 * itself during the measured seconds (every max_wal_size of WAL: ~15-40 s
 * at these rates) still count.
 */
async function latencyPhase(context: Context, ingest: readonly IngestScenario[]): Promise<LatencyResult[]> {
  const { sizes, vault, db } = context;
  const results: LatencyResult[] = [];
  for (const batch of VAULT_BATCHES) {
    const peak = Math.max(...ingest.filter((s) => s.path === 'vault' && s.batch === batch).map((s) => s.eventsPerSecond));
    const rate = Math.round(peak / 2);
    const run = latencyRun(context, batch, rate);
    await resetTable(db);
    const warmup = (await run(`latency-${batch}-warmup`, LATENCY_WARMUP_SECONDS)).callLatencyMs;
    log(`latency warm-up (not counted) at ${rate} events/s in messages of ${batch}: p50 ${warmup.p50} p95 ${warmup.p95} p99 ${warmup.p99} ms`);
    // No reset here: a CHECKPOINT right before the clock would make every page's first change in it write a full page to the WAL.
    const warmupCommits = await countCommits(db);
    const measured = await vault.measure(() => run(`latency-${batch}`, sizes.latencySeconds));
    const { result } = measured;
    const commits = (await countCommits(db)) - warmupCommits;
    log(`latency at ${rate} events/s in messages of ${batch}: p50 ${result.callLatencyMs.p50} p95 ${result.callLatencyMs.p95} p99 ${result.callLatencyMs.p99} ms`);
    const capacity = await unaryCapacity(context, batch, peak);
    const loadSweep = batch === SMALL_UNARY_BATCH ? await sweepLoad(context, batch, capacity) : undefined;
    results.push({
      batch,
      peakEventsPerSecond: peak,
      targetEventsPerSecond: rate,
      achievedEventsPerSecond: result.eventsPerSecond,
      ...unaryCallFigures(measured, commits),
      unaryCapacity: { callers: CAPACITY_CALLERS, eventsPerSecond: capacity },
      ...(loadSweep === undefined ? {} : { loadSweep }),
    });
    log(`unary capacity in messages of ${batch} (${CAPACITY_CALLERS} closed-loop callers): ${Math.round(capacity)} events/s; the latency run's rate was ${Math.round((result.eventsPerSecond / capacity) * 100)}% of it`);
  }
  return results;
}

/** An open loop of unary `batch`-event calls at `rate` events/s, run `name`, for `seconds`: what the latency row and its load sweep run. */
function latencyRun(context: Context, batch: number, rate: number): (name: string, seconds: number) => Promise<IngestOutcome> {
  const { loadGenerator, tenants, target } = context;
  return (name, seconds) => loadGenerator.run('vaultLatency', { target, keys: tenants.map((t) => t.key), run: name, batch, payload: 'json', rate, durationMs: seconds * 1000 });
}

/**
 * The load sweep of issue 12's latency row: the same open loop at each of
 * `sizes.sweepShares` of the unary capacity just measured, each on an
 * emptied table after an uncounted warm-up at its rate (as the row itself),
 * so that the report can say up to what share of the capacity the p99
 * target holds, and how far the row's own rate (half the streaming peak,
 * whatever the capacity) was from it.
 */
async function sweepLoad(context: Context, batch: number, capacity: number): Promise<LoadSweepPoint[]> {
  const { sizes, db } = context;
  const points: LoadSweepPoint[] = [];
  for (const share of sizes.sweepShares) {
    const rate = Math.round(capacity * share);
    const run = latencyRun(context, batch, rate);
    await resetTable(db);
    await run(`sweep-${batch}-${share}-warmup`, LATENCY_WARMUP_SECONDS);
    const result = await run(`sweep-${batch}-${share}`, sizes.latencySeconds);
    log(`load sweep at ${Math.round(share * 100)}% of the unary capacity (${rate} events/s in messages of ${batch}): p50 ${result.callLatencyMs.p50} p95 ${result.callLatencyMs.p95} p99 ${result.callLatencyMs.p99} ms`);
    points.push({ share, targetEventsPerSecond: rate, achievedEventsPerSecond: result.eventsPerSecond, latencyMs: result.callLatencyMs, codes: result.codes });
  }
  return points;
}

/**
 * Closed-loop callers that measure a message size's unary capacity: enough
 * calls in flight that the callers do not wait on the calls' latency (16
 * callers of 100-event calls reached 16 596 events/s right after an open
 * loop had achieved 23 443: each of them waited on its call's ~100 ms).
 */
const CAPACITY_CALLERS = 64;
/** Most events a capacity run sends. */
const CAPACITY_MAX_EVENTS = 300_000;

/**
 * What CAPACITY_CALLERS closed-loop callers of `batch`-event unary calls
 * reach on the vault, events/s, for the latency run's length or
 * CAPACITY_MAX_EVENTS (the streaming peak bounds how many events it needs):
 * the capacity the latency row's open-loop rate is judged against.
 */
async function unaryCapacity(context: Context, batch: number, streamingPeak: number): Promise<number> {
  const { sizes, loadGenerator, tenants, target } = context;
  const seconds = sizes.latencySeconds;
  const { eventsPerSecond } = await loadGenerator.run('vaultCallers', {
    target,
    keys: tenants.map((t) => t.key),
    run: `capacity-${batch}`,
    callers: CAPACITY_CALLERS,
    batch,
    payload: 'json',
    // The run ends at its length or once these are sent (its rate is then over the shorter time); capped, since the load generator encodes them first.
    count: Math.ceil(Math.min(streamingPeak * seconds, CAPACITY_MAX_EVENTS) / batch) * batch,
    durationMs: seconds * 1000,
  });
  return eventsPerSecond;
}

/**
 * Small unary calls from many callers at once (issue 12): UNARY_CALLERS
 * closed-loop callers over the tenants, UNARY_CALLER_BATCH events a call, as
 * fast as the server answers, until `callerEvents` are sent or `callerSeconds`
 * have passed. Every acknowledged event must be stored; calls that fail are
 * counted by code, not retried.
 */
async function callersPhase(context: Context): Promise<CallersResult> {
  const { sizes, vault, db, target } = context;
  await resetTable(db);
  const measured = await vault.measure(() => runCallers(context, target, 'callers', sizes.callerSeconds));
  const { result } = measured;
  const stored = await countEvents(db);
  const commits = await countCommits(db);
  if (stored < result.accepted) throw new Error(`${UNARY_CALLERS} unary callers: ${stored} rows stored for ${result.accepted} events acknowledged as accepted`);
  log(`${UNARY_CALLERS} unary callers of ${UNARY_CALLER_BATCH} events: ${Math.round(result.eventsPerSecond)} events/s, p99 ${result.callLatencyMs.p99} ms, ${JSON.stringify(result.codes)}, ${result.calls} calls in ${commits} commits`);
  const floor = await transportFloor(context);
  log(`${UNARY_CALLERS} unary callers against a bare grpc-js server (the transport floor): ${Math.round(floor.eventsPerSecond)} events/s, server ${Math.round(floor.serverCpuMicrosPerCall)} µs and client ${Math.round(floor.clientCpuMicrosPerCall)} µs of CPU per call`);
  return {
    callers: UNARY_CALLERS,
    batch: UNARY_CALLER_BATCH,
    events: result.events,
    stored,
    eventsPerSecond: result.eventsPerSecond,
    clientCpuMicrosPerCall: clientCpuMicrosPerCall(result),
    floor,
    ...unaryCallFigures(measured, commits),
  };
}

/**
 * The callers' load against bare-ingest-server.ts (a grpc-js server that
 * decodes and counts, nothing else), started for this and stopped after: how
 * far this machine's gRPC transport and load generator go by themselves.
 */
async function transportFloor(context: Context): Promise<TransportFloor> {
  const { sizes } = context;
  const bare = VaultProcess.bareIngest();
  try {
    const target = `127.0.0.1:${(await bare.serving).grpcPort}`;
    // Warmed up first (JIT), as the vault is by the phases before it.
    await runCallers(context, target, 'callers-floor-warmup', Math.min(2, sizes.callerSeconds));
    const { result, cpuSeconds } = await bare.measure(() => runCallers(context, target, 'callers-floor', sizes.callerSeconds));
    if (result.accepted !== result.events || result.calls === 0) throw new Error(`the bare grpc-js server answered ${JSON.stringify(result.codes)}`);
    return { eventsPerSecond: result.eventsPerSecond, calls: result.calls, serverCpuMicrosPerCall: (cpuSeconds / result.calls) * 1e6, clientCpuMicrosPerCall: clientCpuMicrosPerCall(result) };
  } finally {
    await bare.stop();
  }
}

/** The small-calls load (UNARY_CALLERS closed-loop callers of UNARY_CALLER_BATCH events over the tenants) against `target` for `seconds`. */
function runCallers(context: Context, target: string, run: string, seconds: number): Promise<IngestOutcome> {
  const { sizes, loadGenerator, tenants } = context;
  return loadGenerator.run('vaultCallers', { target, keys: tenants.map((t) => t.key), run, callers: UNARY_CALLERS, batch: UNARY_CALLER_BATCH, payload: 'json', count: sizes.callerEvents, durationMs: seconds * 1000 });
}

/** The figures both unary phases report, from what the load generator and the server's /proc said. */
function unaryCallFigures(measured: Measured<IngestOutcome>, commits: number): UnaryCallFigures {
  const { result } = measured;
  return {
    latencyMs: result.callLatencyMs,
    codes: result.codes,
    calls: result.calls,
    commits,
    serverCpuSecondsPerMillion: (measured.cpuSeconds / result.events) * 1e6,
    serverPeakRssMiB: measured.peakRssMiB,
  };
}

/**
 * Live tail (issue 15): follow latency (Ingest acknowledgement, right after
 * COMMIT, to the follower's receipt) at a steady rate, then the same
 * flat-out ingest with 0 and with FOLLOWERS followers of one tenant and
 * filter, alternating, in this run.
 */
async function followPhase(context: Context): Promise<FollowReport> {
  const { sizes, loadGenerator, db, tenants, target } = context;
  await resetTable(db);
  const latency = await loadGenerator.run('followLatency', { target, key: tenants[0]!.key, run: 'follow-latency', rate: sizes.followRate, batch: FOLLOW_BATCH, durationMs: sizes.followSeconds * 1000 });
  if (latency.received !== latency.events) throw new Error(`follow latency: the follower received ${latency.received} of ${latency.events} events`);
  log(`follow latency at ${sizes.followRate} events/s: p50 ${latency.commitToReceiptMs.p50} p95 ${latency.commitToReceiptMs.p95} ms from commit`);
  const ingest: { followers: number; eventsPerSecond: number; received: number; cutOff: number }[] = [];
  for (const followers of [0, FOLLOWERS]) {
    const rounds = [];
    for (let round = 0; round < sizes.rounds; round++) {
      await resetTable(db);
      const keys = tenants.map((tenant) => tenant.key);
      const result = await loadGenerator.run('followedIngest', {
        target,
        keys,
        run: `followed-${followers}-${round}`,
        streams: FOLLOW_INGEST_STREAMS,
        batch: FOLLOW_INGEST_BATCH,
        payload: 'json',
        count: sizes.followIngestEvents,
        eventsPerCall: sizes.eventsPerCall,
        followers,
      });
      if (followers > 0) {
        const expected = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM events WHERE tenant_id = $1 AND event_type = 'log'", [tenants[0]!.id])).rows[0]!.n) - 2;
        if (result.cutOff < followers && (result.receivedMin !== expected || result.receivedMax !== expected)) {
          throw new Error(`${followers - result.cutOff} followers received ${result.receivedMin}..${result.receivedMax} events, expected ${expected} each`);
        }
      }
      rounds.push({ eventsPerSecond: result.result.eventsPerSecond, received: result.receivedMin, cutOff: result.cutOff });
      log(`ingest with ${followers} followers: ${Math.round(result.result.eventsPerSecond)} events/s${result.cutOff > 0 ? `, ${result.cutOff} followers ended as slow consumers` : ''}`);
    }
    ingest.push({ followers, eventsPerSecond: median(rounds.map((r) => r.eventsPerSecond)), received: rounds[0]!.received, cutOff: Math.max(...rounds.map((r) => r.cutOff)) });
  }
  const writerCost: LiveTailWriterCost[] = [];
  for (const batch of [context.serverBatchSize, LIVE_TAIL_COST_SMALL_BATCH]) writerCost.push(await liveTailWriterCost(context, batch));
  return { rate: sizes.followRate, batch: FOLLOW_BATCH, latency, ingest, writerCost };
}

/**
 * The writer's statements at `batch` events per transaction, with live tail
 * (0 followers) and without (no lock, no notice CTE), alternating in each
 * round: events/s and the database backends' CPU, each as a ratio within
 * the round, medians over the rounds.
 */
async function liveTailWriterCost(context: Context, batch: number): Promise<LiveTailWriterCost> {
  const { sizes, loadGenerator, db, tenants, databaseUrl } = context;
  const count = batch >= 100 ? sizes.liveTailCostEvents : Math.round(sizes.liveTailCostEvents / 10);
  const rounds: { off: BaselineResult; on: BaselineResult }[] = [];
  for (let round = 0; round < Math.max(LIVE_TAIL_COST_ROUNDS, sizes.rounds); round++) {
    const measured: Partial<Record<'off' | 'on', BaselineResult>> = {};
    for (const liveTail of round % 2 === 0 ? [false, true] : [true, false]) {
      await resetTable(db);
      measured[liveTail ? 'on' : 'off'] = await loadGenerator.run('ceiling', {
        url: databaseUrl,
        run: `live-tail-cost-${batch}-${round}-${liveTail ? 'on' : 'off'}`,
        count,
        batchSize: batch,
        tenantIds: tenants.map((tenant) => tenant.id),
        connections: LIVE_TAIL_COST_CONNECTIONS,
        liveTail,
      });
    }
    rounds.push({ off: measured.off!, on: measured.on! });
  }
  const rate = (result: BaselineResult): number => result.events / (result.elapsedMs / 1000);
  const cpuPerMillion = (result: BaselineResult): number | undefined => (result.databaseCpuSeconds === undefined ? undefined : (result.databaseCpuSeconds / result.events) * 1e6);
  const cpuKnown = rounds.every((round) => round.off.databaseCpuSeconds !== undefined && round.on.databaseCpuSeconds !== undefined);
  const cost: LiveTailWriterCost = {
    batch,
    connections: LIVE_TAIL_COST_CONNECTIONS,
    events: count,
    rounds: rounds.length,
    offEventsPerSecond: median(rounds.map((round) => rate(round.off))),
    onEventsPerSecond: median(rounds.map((round) => rate(round.on))),
    rateRatio: median(rounds.map((round) => rate(round.on) / rate(round.off))),
    offDatabaseCpuSecondsPerMillion: cpuKnown ? median(rounds.map((round) => cpuPerMillion(round.off)!)) : undefined,
    onDatabaseCpuSecondsPerMillion: cpuKnown ? median(rounds.map((round) => cpuPerMillion(round.on)!)) : undefined,
    databaseCpuRatio: cpuKnown ? median(rounds.map((round) => round.on.databaseCpuSeconds! / round.off.databaseCpuSeconds!)) : undefined,
  };
  log(`live tail's writer cost at ${batch}/transaction, 0 followers: ${cost.rateRatio.toFixed(3)}x events/s, ${cost.databaseCpuRatio?.toFixed(3) ?? '-'}x database CPU (on/off)`);
  return cost;
}

interface Position {
  readonly timestampUs: bigint;
  readonly eventId: string;
}

/** Keyset positions (newest first) of the query tenant's rows from `offset`, `count` of them. */
async function positions(db: pg.Client, tenantId: string, offset: number, count: number): Promise<Position[]> {
  const rows = await db.query<{ us: string; event_id: string }>(
    `SELECT (extract(epoch FROM "timestamp") * 1000000)::bigint::text AS us, event_id FROM events WHERE tenant_id = $1 ORDER BY "timestamp" DESC, event_id DESC OFFSET $2 LIMIT $3`,
    [tenantId, offset, count],
  );
  return rows.rows.map((row) => ({ timestampUs: BigInt(row.us), eventId: row.event_id }));
}

async function queryPhase(context: Context): Promise<QueryReport> {
  const { sizes, loadGenerator, db, tenants, target, cursorSecret, queryLimits } = context;
  const [queryTenant, ...others] = tenants as [BenchTenant, ...BenchTenant[]];
  await resetTable(db);
  log(`loading ${sizes.queryTenantEvents} events into one tenant and ${sizes.otherTenantEvents} into each of ${others.length} others`);
  await loadGenerator.run('loadEvents', { url: context.databaseUrl, run: 'query', count: sizes.queryTenantEvents, tenantId: queryTenant.id, connections: 2 });
  for (const [i, tenant] of others.entries()) {
    await loadGenerator.run('loadEvents', { url: context.databaseUrl, run: `other${i}`, count: sizes.otherTenantEvents, tenantId: tenant.id, connections: 2 });
  }
  await db.query('VACUUM (ANALYZE) events');
  await db.query('CHECKPOINT').catch(() => undefined);

  // Cursors for pages deep in the tenant, made as the server makes them: the
  // same codec, key and scope (no filter, newest first).
  const codec = new CursorCodec(Buffer.from(cursorSecret, 'utf8'));
  const scope = queryScope(validateEventFilter(undefined, queryLimits), 'newest-first');
  const cases: QueryCase[] = [];
  const pagesPerDepth = Math.min(30, sizes.cursorSamples);
  for (const depth of sizes.cursorDepths) {
    const firstPage = Math.max(1, depth - pagesPerDepth + 1);
    const from = Math.max(0, (firstPage - 1) * PAGE_LIMIT - 1);
    const rows = await positions(db, queryTenant.id, from, (depth - 1) * PAGE_LIMIT - from + 1);
    const requests: Record<string, unknown>[] = [];
    const firstEventIds: string[] = [];
    for (let page = firstPage; page <= depth; page++) {
      const firstRow = (page - 1) * PAGE_LIMIT - from;
      const cursor = page === 1 ? '' : codec.encode(queryTenant.id, scope, rows[firstRow - 1]!);
      requests.push({ limit: PAGE_LIMIT, cursor, order: 1 });
      firstEventIds.push(rows[firstRow]!.eventId);
    }
    cases.push({ label: `cursor page ${depth}`, method: 'queryEvents', requests, firstEventIds });
  }
  for (const depth of sizes.offsetDepths) {
    const [first] = await positions(db, queryTenant.id, (depth - 1) * PAGE_LIMIT, 1);
    cases.push({ label: `offset page ${depth}`, method: 'queryEvents', requests: [{ limit: PAGE_LIMIT, page: depth, order: 1 }], firstEventIds: [first!.eventId] });
  }
  const pages = await loadGenerator.run('timedQueries', { target, key: queryTenant.key, cases: cases.filter((c) => c.label.startsWith('cursor')), samples: sizes.cursorSamples });
  Object.assign(pages, await loadGenerator.run('timedQueries', { target, key: queryTenant.key, cases: cases.filter((c) => c.label.startsWith('offset')), samples: sizes.offsetSamples }));
  for (const [label, summary] of Object.entries(pages)) log(`${label}: p50 ${summary.p50} p95 ${summary.p95} ms`);

  const aggregate = await loadGenerator.run('timedQueries', {
    target,
    key: queryTenant.key,
    cases: [{ label: 'aggregate', method: 'aggregate', requests: [{ groupBy: [1, 2], bucket: { seconds: 3600, nanos: 0 } }] }],
    samples: sizes.aggregateSamples,
  });
  log(`Aggregate by type, service and hour: p50 ${aggregate.aggregate!.p50} ms, ${aggregate.aggregate!.rows} rows`);

  const stream: QueryReport['stream'] = {};
  for (const payloadAsJson of [false, true]) {
    const rounds = [];
    for (let round = 0; round < sizes.streamRounds; round++) {
      rounds.push(await loadGenerator.run('streamEvents', { target, key: queryTenant.key, payloadAsJson, expectedEvents: sizes.queryTenantEvents }));
    }
    const label = payloadAsJson ? 'payload_json' : 'payload (Struct)';
    stream[label] = { eventsPerSecond: median(rounds.map((r) => r.eventsPerSecond)), rounds };
    log(`StreamEvents (${label}): ${Math.round(stream[label].eventsPerSecond)} events/s`);
  }
  return { tenantEvents: sizes.queryTenantEvents, otherTenants: others.length, otherTenantEvents: sizes.otherTenantEvents, pages, aggregate: aggregate.aggregate!, stream };
}

async function describeMachine(db: pg.Client, config: Config): Promise<MachineReport> {
  const setting = async (name: string): Promise<string> => (await db.query<{ value: string }>(`SELECT current_setting($1) AS value`, [name])).rows[0]!.value;
  const postgres: MachineReport['postgres'] = { version: (await db.query<{ version: string }>('SELECT version()')).rows[0]!.version };
  for (const name of ['shared_buffers', 'work_mem', 'maintenance_work_mem', 'max_wal_size', 'checkpoint_timeout', 'synchronous_commit', 'fsync', 'wal_compression', 'max_connections']) {
    postgres[name] = await setting(name);
  }
  const cpus = os.cpus();
  return {
    cpu: `${cpus[0]?.model ?? 'unknown'} x ${cpus.length}`,
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
    vault: {
      batchSize: config.ingest.batchSize,
      flushIntervalMs: config.ingest.flushIntervalMs,
      writeConcurrency: config.ingestWrite.concurrency,
      groupLingerMs: config.ingestWrite.groupLingerMs,
      poolMax: config.database.pool.max,
      streamChunkSize: config.query.streamChunkSize,
    },
  };
}

/** --aggregate-scale: the rollups' figures alone, on a database of their own. */
async function aggregateScale(options: Options): Promise<void> {
  const startedAt = Date.now();
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log });
  try {
    log(`aggregate-scale run; database: ${database.description}`);
    await runMigrations(database.url, silent);
    const sizes = options.aggregateEvents === undefined ? ROLLUP_BENCH_SIZES.full : { ...ROLLUP_BENCH_SIZES.full, aggregateTenantEvents: options.aggregateEvents };
    const rollups = await runRollupBench(database.url, sizes, log, options.aggregateEvents === undefined);
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(options.out, `${JSON.stringify({ startedAt: new Date(startedAt).toISOString(), mode: 'aggregate-scale', rollups, seconds: Math.round((Date.now() - startedAt) / 1000) }, null, 2)}\n`);
    process.stdout.write(formatRollupReport(rollups));
    log(`JSON report: ${path.relative(process.cwd(), options.out)}`);
  } finally {
    await database.close();
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--scale')) return scaleMain();
  const options = parseOptions();
  if (options.aggregateScale) return aggregateScale(options);
  const startedAt = Date.now();
  log(`${options.quick ? 'quick' : 'full'} run, ${options.sizes.rounds} round(s)`);
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log });
  let vault: VaultProcess | undefined;
  let loadGenerator: LoadGenerator | undefined;
  let db: pg.Client | undefined;
  try {
    // Started first: it loads (and transpiles) its modules while the database and the server get ready.
    loadGenerator = new LoadGenerator();
    log(`database: ${database.description}`);
    await runMigrations(database.url, silent);
    const tenants = await createBenchTenants(database.url, 'bench');
    const cursorSecret = randomBytes(24).toString('base64url');
    const vaultEnv = {
      DATABASE_URL: database.url,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      QUERY_CURSOR_SECRET: cursorSecret,
      // Lifted for the bench only, to time deep offset pages.
      QUERY_MAX_PAGE: '100000',
    };
    if (options.instances) {
      db = new pg.Client({ connectionString: database.url });
      await db.connect();
      // Up to four servers, the load generator and PostgreSQL share the cores: a write may wait longer than the default 2 s for its group.
      const env = { ...vaultEnv, OTLP_GRPC_PORT: '0', OTLP_HTTP_PORT: '0', DB_POOL_CONNECTION_TIMEOUT: '30s' };
      const rows = await instancesPhase({ loadGenerator, db, keys: tenants.map((tenant) => tenant.key), env, eventsPerInstance: options.sizes.vaultEvents, rounds: options.sizes.rounds, log });
      fs.mkdirSync(path.dirname(options.out), { recursive: true });
      fs.writeFileSync(options.out, `${JSON.stringify({ startedAt: new Date(startedAt).toISOString(), mode: options.quick ? 'quick' : 'full', instances: rows }, null, 2)}\n`);
      process.stdout.write(formatInstances(rows));
      log(`JSON report: ${path.relative(process.cwd(), options.out)}; ${Math.round((Date.now() - startedAt) / 1000)} s in all`);
      return;
    }
    vault = new VaultProcess(vaultEnv);
    const serving = await vault.serving;
    const target = `127.0.0.1:${serving.grpcPort}`;
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const config = loadConfig(vaultEnv);
    const context: Context = { sizes: options.sizes, loadGenerator, vault, db, tenants, target, databaseUrl: database.url, serverBatchSize: config.ingest.batchSize, cursorSecret, queryLimits: config.query };
    const report: BenchReport = { startedAt: new Date(startedAt).toISOString(), mode: options.quick ? 'quick' : 'full', sizes: options.sizes, machine: await describeMachine(db, config) };
    if (options.only === 'follow') report.follow = await followPhase(context);
    else if (options.only !== 'query') {
      report.ingest = await ingestPhase(context);
      report.sdk = await sdkPhase(context);
      report.latency = await latencyPhase(context, report.ingest);
      report.callers = await callersPhase(context);
      report.follow = await followPhase(context);
      report.serverPeakRssMiB = [...report.ingest, ...report.latency, report.callers].reduce((peak, s) => Math.max(peak, s.serverPeakRssMiB ?? 0), 0);
    }
    if (options.only === undefined || options.only === 'query') report.query = await queryPhase(context);
    if (options.quick && options.only !== 'follow') report.rollups = await runRollupBench(database.url, ROLLUP_BENCH_SIZES.quick, log);
    report.seconds = Math.round((Date.now() - startedAt) / 1000);
    fs.mkdirSync(path.dirname(options.out), { recursive: true });
    fs.writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(formatReport(report));
    if (report.rollups) process.stdout.write(formatRollupReport(report.rollups));
    log(`JSON report: ${path.relative(process.cwd(), options.out)}; ${report.seconds} s in all`);
  } finally {
    await db?.end();
    loadGenerator?.stop();
    await vault?.stop();
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
