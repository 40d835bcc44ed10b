/** The benchmark's report as markdown tables, with the targets of the performance issues checked against the figures. */
import type { LatencySummary } from '../load/histogram';
import type { PayloadMode } from './event-shape';
import type { QueryTiming, StreamOutcome } from './load-generator';
import type { FollowLatencyOutcome } from './follow-load';

/** Live tail: follow latency at a steady rate, and flat-out ingest with and without followers. */
export interface FollowReport {
  readonly rate: number;
  readonly batch: number;
  readonly latency: FollowLatencyOutcome;
  /** The same ingest with 0 followers (the baseline) and with many, of one tenant and filter; `received` is what each follower got. */
  /** `received`: events each follower that followed to the end got; `cutOff`: followers the server ended as slow consumers (most in any round; absent in older reports). */
  readonly ingest: readonly { readonly followers: number; readonly eventsPerSecond: number; readonly received: number; readonly cutOff?: number }[];
  /** Live tail's cost to the writer's statements with nobody following (absent in reports made before it was measured). */
  readonly writerCost?: readonly LiveTailWriterCost[];
}

/** The writer's statements (the ceiling path) at one batch size, with live tail and 0 followers ("on") against without it ("off"). */
export interface LiveTailWriterCost {
  readonly batch: number;
  readonly connections: number;
  readonly events: number;
  readonly rounds: number;
  readonly offEventsPerSecond: number;
  readonly onEventsPerSecond: number;
  /** Median over the rounds of on/off, each round's pair measured back to back. */
  readonly rateRatio: number;
  /** CPU of the connections' PostgreSQL backends per million events; undefined when the database is not on this machine. */
  readonly offDatabaseCpuSecondsPerMillion: number | undefined;
  readonly onDatabaseCpuSecondsPerMillion: number | undefined;
  readonly databaseCpuRatio: number | undefined;
}
import type { RollupBenchReport } from './rollup-bench';

/** The load generator's CPU per call in µs, from a job's outcome (NaN when the job did not measure it). */
export function clientCpuMicrosPerCall(outcome: { readonly calls: number; readonly clientCpuMs?: number }): number {
  return ((outcome.clientCpuMs ?? Number.NaN) * 1000) / outcome.calls;
}

/** Seconds of unary calls at the latency test's rate before its clock (not counted; run-bench runs them, the report says so). */
export const LATENCY_WARMUP_SECONDS = 3;

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One round of one ingest scenario. */
export interface IngestRound {
  readonly eventsPerSecond: number;
  readonly elapsedMs: number;
  readonly events: number;
  readonly serverCpuSecondsPerMillion?: number;
  readonly serverPeakRssMiB?: number;
  readonly callLatencyMs?: LatencySummary;
  /** CPU of the whole PostgreSQL (postmaster and every child) per million events; absent when it is not on this machine. */
  readonly databaseCpuSecondsPerMillion?: number;
}

/** An ingest scenario and the median of its rounds. */
export interface IngestScenario {
  /**
   * ceiling and naive: straight into PostgreSQL; vault: IngestStream through
   * the generated client; otlp: OTLP logs over gRPC; unary: unary Ingest
   * calls from `streams` closed-loop callers, the OTLP rows' call shape (the
   * Node.js client has a table of its own: SdkComparison).
   */
  readonly path: 'ceiling' | 'naive' | 'vault' | 'otlp' | 'unary';
  readonly label: string;
  /** Events per statement, message or Export request. */
  readonly batch?: number;
  /** Database connections (ceiling, naive). */
  readonly connections?: number;
  /** Concurrent IngestStream calls (vault), OTLP exporters (otlp) or callers (unary). */
  readonly streams?: number;
  readonly payload?: PayloadMode;
  /** unary: the bench's events, or the events the OTLP mapping makes of the OTLP rows' requests (what those rows store). */
  readonly events?: 'bench' | 'otlp';
  readonly rounds: IngestRound[];
  readonly eventsPerSecond: number;
  readonly serverCpuSecondsPerMillion?: number;
  readonly serverPeakRssMiB?: number;
  /** The rounds' median of IngestRound's, when every round has it. */
  readonly databaseCpuSecondsPerMillion?: number;
}

/** One interleaved round of the SDK comparison: the raw generated client's run and the SDK's, back to back on one server, then the raw client's with its messages encoded before the clock. */
export interface SdkComparisonRound {
  /** Which ran first this round (the order alternates, so that neither always pays for the other's leftovers). */
  readonly first: 'raw' | 'sdk';
  /** The raw generated client encoding each message as it sends it (inside the clock, as an application does). */
  readonly raw: SdkComparisonRun;
  readonly sdk: SdkComparisonRun;
  /** The raw generated client with every message encoded before the clock: the transport's and server's rate alone. */
  readonly preEncoded: SdkComparisonRun;
}

/** One timed run of the SDK comparison. */
export interface SdkComparisonRun {
  readonly eventsPerSecond: number;
  readonly elapsedMs: number;
  /** The load generator's CPU (the client's cost) and the server's, in µs per event. */
  readonly clientCpuMicrosPerEvent: number;
  readonly serverCpuMicrosPerEvent: number;
  /** IngestStream calls and stream messages sent; transactions that stored the rows (distinct xmin). */
  readonly calls: number;
  readonly messages: number;
  readonly commits: number;
}

/**
 * "SDK, 4 concurrent ingesters" against the raw generated client doing the
 * same work (the same events, payload_json, 1000-event messages, 4
 * producers, encoding inside the clock), in rounds of one run each,
 * alternating which goes first, after a warm-up round that is not counted;
 * and the raw client with its messages encoded before the clock, beside
 * them (docs/performance.md).
 */
export interface SdkComparison {
  readonly ingesters: number;
  readonly events: number;
  readonly sdkLabel: string;
  readonly rawLabel: string;
  readonly preEncodedLabel: string;
  readonly rounds: SdkComparisonRound[];
  /** Medians over the rounds: events/s, and the per-round ratio SDK/raw (the figure the target judges). */
  readonly rawEventsPerSecond: number;
  readonly sdkEventsPerSecond: number;
  readonly ratio: number;
  /** The median of the rounds' SDK/pre-encoded ratios. */
  readonly preEncodedRatio: number;
}

/** What both unary tables report of their calls. */
export interface UnaryCallFigures {
  readonly latencyMs: LatencySummary;
  readonly codes: Record<string, number>;
  /** Calls made, and the transactions that stored their rows (group commit puts several calls in one). */
  readonly calls: number;
  readonly commits: number;
  readonly serverCpuSecondsPerMillion: number;
  readonly serverPeakRssMiB: number;
}

/** Unary Ingest calls at a set rate, open loop. */
export interface LatencyResult extends UnaryCallFigures {
  readonly batch: number;
  readonly peakEventsPerSecond: number;
  readonly targetEventsPerSecond: number;
  readonly achievedEventsPerSecond: number;
  /**
   * What unary calls of this size reach closed loop (CAPACITY_CALLERS callers, as fast as
   * the server answers), right after the latency run: how close to the unary path's
   * capacity the open-loop rate was. Absent in reports made before it was measured.
   */
  readonly unaryCapacity?: { readonly callers: number; readonly eventsPerSecond: number };
  /**
   * The same calls, open loop again, at set shares of `unaryCapacity` (issue
   * 12's 100-event row only): where the latency target stops holding.
   * Absent in reports made before it was measured, and for other sizes.
   */
  readonly loadSweep?: readonly LoadSweepPoint[];
}

/** Unary calls open loop at one share of the unary capacity: one point of a latency row's load sweep. */
export interface LoadSweepPoint {
  /** The share of the unary capacity asked for (0.5 = half). */
  readonly share: number;
  readonly targetEventsPerSecond: number;
  readonly achievedEventsPerSecond: number;
  readonly latencyMs: LatencySummary;
  readonly codes: Record<string, number>;
}

/** The highest share of a sweep at which p99 met `p99TargetMs` with no UNAVAILABLE, and every lower share did too; undefined if the lowest did not. */
export function highestShareMeeting(sweep: readonly LoadSweepPoint[], p99TargetMs: number): LoadSweepPoint | undefined {
  let met: LoadSweepPoint | undefined;
  for (const point of [...sweep].sort((a, b) => a.share - b.share)) {
    if ((point.latencyMs.p99 ?? Infinity) > p99TargetMs || (point.codes.UNAVAILABLE ?? 0) > 0) break;
    met = point;
  }
  return met;
}

/**
 * What a latency row's load sweep says of its target, as words: the highest
 * share of the unary capacity the target held at, and how much more unary
 * capacity the row's own rate would have needed to sit at that share.
 */
function sweepVerdict(l: LatencyResult, p99TargetMs: number): string {
  if (l.loadSweep === undefined || l.loadSweep.length === 0 || l.unaryCapacity === undefined) return '';
  const shares = l.loadSweep.map((p) => `${Math.round(p.share * 100)}%`).join(', ');
  const met = highestShareMeeting(l.loadSweep, p99TargetMs);
  if (met === undefined) return `p99 <= ${p99TargetMs} ms held at none of ${shares} of the unary capacity`;
  const needed = achievedShare(l)! / met.share;
  return (
    `p99 <= ${p99TargetMs} ms held up to ${Math.round(met.share * 100)}% of the unary capacity (of ${shares}), ` +
    (needed <= 1 ? 'a share the row\'s rate was within' : `so the row's rate needs ${ratio(needed)} this run's unary capacity`)
  );
}

/** The share of the unary path's closed-loop capacity a latency row's achieved rate was (0.8 = 80%); undefined when not measured. */
function achievedShare(l: LatencyResult): number | undefined {
  return l.unaryCapacity === undefined ? undefined : l.achievedEventsPerSecond / l.unaryCapacity.eventsPerSecond;
}

/** achievedShare as words for its row ('' when not measured). */
function capacityShare(l: LatencyResult): string {
  return l.unaryCapacity === undefined ? '' : `${Math.round(achievedShare(l)! * 100)}% of ${round(l.unaryCapacity.eventsPerSecond)}/s, what ${l.unaryCapacity.callers} closed-loop callers of such calls reached`;
}

/** Unary Ingest calls from many concurrent callers, each a closed loop. */
export interface CallersResult extends UnaryCallFigures {
  readonly callers: number;
  readonly batch: number;
  readonly events: number;
  readonly stored: number;
  readonly eventsPerSecond: number;
  /** The load generator's CPU per call (the callers' gRPC client), µs; absent in reports made before it was measured. */
  readonly clientCpuMicrosPerCall?: number;
  /** The same callers against a bare grpc-js Ingest server (bare-ingest-server.ts): the transport floor of this machine. */
  readonly floor?: TransportFloor;
}

/** The small-calls load against a bare grpc-js server that only decodes and counts. */
export interface TransportFloor {
  readonly eventsPerSecond: number;
  readonly calls: number;
  readonly serverCpuMicrosPerCall: number;
  readonly clientCpuMicrosPerCall: number;
}

export interface QueryReport {
  readonly tenantEvents: number;
  readonly otherTenants: number;
  readonly otherTenantEvents: number;
  readonly pages: Record<string, QueryTiming>;
  readonly aggregate: QueryTiming;
  readonly stream: Record<string, { readonly eventsPerSecond: number; readonly rounds: StreamOutcome[] }>;
}

export interface MachineReport {
  readonly cpu: string;
  /** The cores this process may run on (os.availableParallelism()); absent in reports made before it was recorded. */
  readonly cores?: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly postgres: Record<string, string> & { readonly version: string };
  readonly vault: {
    readonly batchSize: number;
    readonly flushIntervalMs: number;
    readonly writeConcurrency: number;
    readonly groupLingerMs: number;
    readonly poolMax: number;
    readonly streamChunkSize: number;
  };
}

/** The bench's JSON report. */
export interface BenchReport {
  readonly startedAt: string;
  readonly mode: 'quick' | 'full';
  readonly sizes: { readonly rounds: number } & Record<string, unknown>;
  readonly machine: MachineReport;
  ingest?: IngestScenario[];
  sdk?: SdkComparison;
  latency?: LatencyResult[];
  callers?: CallersResult;
  serverPeakRssMiB?: number;
  follow?: FollowReport;
  query?: QueryReport;
  /** scripts/bench/rollup-bench.ts (its own tables: formatRollupReport). */
  rollups?: RollupBenchReport;
  seconds?: number;
}

/** The targets of the performance issues: issue 3's (with OTLP's and the Node.js client's), then issue 12's (small calls and CPU per event). */
const TARGETS = {
  ceilingRatio: 0.5,
  naiveRatio: 3,
  p99AckMs: 100,
  peakRssMiB: 300,
  cursorP95Ms: 10,
  deepCursorRatio: 1.5,
  streamEventsPerSecond: 50_000,
  aggregateMs: 1000,
  otlpRatio: 0.8,
  sdkRatio: 0.9,
  smallUnaryP99Ms: 100,
  callersCeilingRatio: 0.5,
  cpuPerMillion: { json: 5, struct: 8 } satisfies Record<PayloadMode, number>,
  fourStreamCeilingRatio: 0.85,
};

/** The ingest scenario whose CPU per event and ceiling ratio the targets judge: 4 streams of 1000-event messages. */
const REFERENCE_STREAMS = 4;
const REFERENCE_BATCH = 1000;
/** The unary message size whose tail at half load issue 12 judges. */
export const SMALL_UNARY_BATCH = 100;

const round = (value: number): string => Math.round(value).toLocaleString('en-US');
const fixed = (value: number | null | undefined, digits = 1): string => (value === null || value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));
const ratio = (value: number): string => `${value.toFixed(2)}x`;
const check = (ok: boolean): string => (ok ? 'yes' : '**no**');
const payloadLabel = (payload: PayloadMode): string => (payload === 'json' ? 'payload_json' : 'payload (Struct)');
const formatCodes = (codes: Record<string, number>): string =>
  Object.entries(codes)
    .map(([code, count]) => `${code} ${count}`)
    .join(', ');

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function best(ingest: readonly IngestScenario[], path: IngestScenario['path'], filter: (s: IngestScenario) => boolean = () => true): number {
  return Math.max(...ingest.filter((s) => s.path === path && filter(s)).map((s) => s.eventsPerSecond));
}

/** Whether the scenario went through the vault server (its CPU and memory are then the server's cost). */
export const servedByVault = (s: Pick<IngestScenario, 'path'>): boolean => s.path !== 'ceiling' && s.path !== 'naive';

/**
 * What the OTLP target's gap is made of, from the unary rows of the same
 * run: the OTLP row of as many exporters as the unary rows have callers
 * (`otlp`), native unary calls of its shape with the bench's events
 * (`unaryBench`: the call shape's cost against the native path) and with the
 * OTLP row's own events (`unaryOtlpEvents`: what the contract's events cost
 * the native path). The OTLP receiver's own share is otlp / unaryOtlpEvents.
 */
export function otlpGap(ingest: readonly IngestScenario[]): { callers: number; batch: number; native: number; otlp: number; unaryBench: number; unaryOtlpEvents: number } | undefined {
  const unary = (events: 'bench' | 'otlp'): IngestScenario | undefined => ingest.find((s) => s.path === 'unary' && (s.events ?? 'bench') === events);
  const bench = unary('bench');
  const otlpEvents = unary('otlp');
  const otlp = ingest.find((s) => s.path === 'otlp' && s.streams === otlpEvents?.streams && s.batch === otlpEvents?.batch);
  if (bench === undefined || otlpEvents === undefined || otlp === undefined) return undefined;
  return {
    callers: otlpEvents.streams!,
    batch: otlpEvents.batch!,
    native: best(ingest, 'vault', (s) => s.payload === 'json'),
    otlp: otlp.eventsPerSecond,
    unaryBench: bench.eventsPerSecond,
    unaryOtlpEvents: otlpEvents.eventsPerSecond,
  };
}

function sdkSection(sdk: SdkComparison): string {
  const row = (label: string, which: 'raw' | 'sdk' | 'preEncoded', ratioText: string): string[] => {
    const runs = sdk.rounds.map((r) => r[which]);
    return [
      label,
      round(median(runs.map((r) => r.eventsPerSecond))),
      ratioText,
      fixed(median(runs.map((r) => r.clientCpuMicrosPerEvent))),
      fixed(median(runs.map((r) => r.serverCpuMicrosPerEvent))),
      `${fixed(median(runs.map((r) => r.calls)), 0)} / ${fixed(median(runs.map((r) => r.messages)), 0)} / ${fixed(median(runs.map((r) => r.commits)), 0)}`,
    ];
  };
  return [
    `### The Node.js client against the raw generated client (${sdk.events} events a run, ${sdk.rounds.length} interleaved rounds after a warm-up round, medians; ratios are medians of the rounds' ratios)`,
    '',
    table(
      ['client', 'events/s', 'ratio to the raw generated client', 'client CPU µs/event', 'server CPU µs/event', 'calls / messages / commits'],
      [
        row(sdk.rawLabel, 'raw', '1.00x'),
        row(sdk.sdkLabel, 'sdk', ratio(sdk.ratio)),
        row(sdk.preEncodedLabel, 'preEncoded', ratio(median(sdk.rounds.map((r) => r.preEncoded.eventsPerSecond / r.raw.eventsPerSecond)))),
      ],
    ),
    '',
    `Rounds (SDK/raw): ${sdk.rounds.map((r) => ratio(r.sdk.eventsPerSecond / r.raw.eventsPerSecond)).join(', ')}; SDK/pre-encoded: ${sdk.rounds.map((r) => ratio(r.sdk.eventsPerSecond / r.preEncoded.eventsPerSecond)).join(', ')}. All send the same events with payload_json in 1000-event messages from 4 producers, from the application's events built before the clock. The raw client encodes each message with the generated codec as it sends it and goes as one stream per producer; the SDK (default options) encodes at add() and runs up to 2 streams per ingester, one channel per ingester (docs/sdk.md, "Performance"). The last row's messages are encoded before its clock: no client work, the transport's and server's rate alone.`,
  ].join('\n');
}

function ingestSection(report: BenchReport, ingest: IngestScenario[]): string {
  const ceiling = best(ingest, 'ceiling');
  const naive = best(ingest, 'naive');
  const withDatabaseCpu = ingest.every((s) => s.databaseCpuSecondsPerMillion !== undefined);
  const rows = ingest.map((s) => [
    s.label,
    round(s.eventsPerSecond),
    ratio(s.eventsPerSecond / ceiling),
    ratio(s.eventsPerSecond / naive),
    ...(withDatabaseCpu ? [fixed(s.databaseCpuSecondsPerMillion)] : []),
    servedByVault(s) ? fixed(s.serverCpuSecondsPerMillion) : '',
    servedByVault(s) ? fixed(s.serverPeakRssMiB, 0) : '',
  ]);
  const sections = [
    `### Ingest (events/s, median of ${report.sizes.rounds} round${report.sizes.rounds > 1 ? 's' : ''}; ratios to the best ceiling, ${round(ceiling)}/s, and the best naive run, ${round(naive)}/s)`,
    '',
    table(['path', 'events/s', 'vs ceiling', 'vs naive', ...(withDatabaseCpu ? ['database CPU s per 1M events'] : []), 'server CPU s per 1M events', 'server peak RSS MiB'], rows),
  ];
  if (withDatabaseCpu) {
    sections.push(
      '',
      'Database CPU is that of the whole PostgreSQL (postmaster, backends, WAL writer, checkpointer, autovacuum) during the row\'s runs, per event stored. On these 2 cores the server, PostgreSQL and the load generator share the CPU, so a row\'s events/s follow the sum of the two CPU columns (and the load generator\'s). The OTLP rows\' database CPU beside the native rows\' is what the contract\'s mapping (a payload about twice as large: attributes, body, severity, ids, resource, scope) costs PostgreSQL in this run. The two unary rows send the 16-exporter OTLP row\'s call shape through native Ingest, once with the bench\'s events and once with the events that OTLP row stores (the OTLP mapping\'s payloads and ids): the targets\' OTLP gap row compares them.',
    );
  }
  if (report.sdk) sections.push('', sdkSection(report.sdk));
  if (report.latency) {
    const latencyRows = report.latency.map((l) => [
      `${l.batch} events`,
      `${round(l.targetEventsPerSecond)} (${round(l.achievedEventsPerSecond)} achieved)`,
      fixed(l.latencyMs.p50),
      fixed(l.latencyMs.p95),
      fixed(l.latencyMs.p99),
      formatCodes(l.codes),
      fixed(l.calls / l.commits),
      fixed(l.serverCpuSecondsPerMillion),
      capacityShare(l) || '-',
    ]);
    sections.push(
      '',
      `### Acknowledgement latency per message (unary Ingest, open loop, at 50% of the vault's peak rate for that message size, after a ${LATENCY_WARMUP_SECONDS} s warm-up at that rate that is not counted)`,
      '',
      table(['message', 'events/s', 'p50 ms', 'p95 ms', 'p99 ms', 'codes', 'calls per commit', 'server CPU s per 1M events', 'achieved vs the unary capacity'], latencyRows),
      '',
      'The last column: the rate the row achieved against what unary calls of the same size reached closed loop on the same vault right after it. An open loop near its capacity queues at every pause of the server, the database or the machine, and its tail follows.',
    );
    for (const l of report.latency.filter((row) => row.loadSweep !== undefined && row.loadSweep.length > 0)) {
      const sweepRows = l.loadSweep!.map((p) => [`${Math.round(p.share * 100)}%`, `${round(p.targetEventsPerSecond)} (${round(p.achievedEventsPerSecond)} achieved)`, fixed(p.latencyMs.p50), fixed(p.latencyMs.p95), fixed(p.latencyMs.p99), formatCodes(p.codes)]);
      sections.push(
        '',
        `### Load sweep: ${l.batch}-event unary calls, open loop, at shares of the unary capacity (${round(l.unaryCapacity!.eventsPerSecond)}/s), each after a ${LATENCY_WARMUP_SECONDS} s warm-up that is not counted`,
        '',
        table(['share of the unary capacity', 'events/s', 'p50 ms', 'p95 ms', 'p99 ms', 'codes'], sweepRows),
        '',
        `${sweepVerdict(l, TARGETS.smallUnaryP99Ms)}. The latency row above ran at ${Math.round(achievedShare(l)! * 100)}% of it.`,
      );
    }
  }
  const { callers } = report;
  if (callers) {
    sections.push(
      '',
      `### Small unary calls (${callers.callers} concurrent callers, each a closed loop, ${callers.batch} events per Ingest call, ${round(callers.events)} events acknowledged)`,
      '',
      table(
        ['callers', 'events/s', 'vs ceiling', 'p50 ms', 'p95 ms', 'p99 ms', 'codes', 'calls per commit', 'server CPU s per 1M events', 'server CPU µs per call', 'client CPU µs per call', 'server peak RSS MiB'],
        [
          [
            `${callers.callers} x ${callers.batch} events`,
            round(callers.eventsPerSecond),
            ratio(callers.eventsPerSecond / ceiling),
            fixed(callers.latencyMs.p50),
            fixed(callers.latencyMs.p95),
            fixed(callers.latencyMs.p99),
            formatCodes(callers.codes),
            fixed(callers.calls / callers.commits),
            fixed(callers.serverCpuSecondsPerMillion),
            // s per 1M events is µs per event
            round(callers.serverCpuSecondsPerMillion * callers.batch),
            callers.clientCpuMicrosPerCall === undefined ? '-' : round(callers.clientCpuMicrosPerCall),
            fixed(callers.serverPeakRssMiB, 0),
          ],
          ...(callers.floor === undefined
            ? []
            : [[`floor: bare grpc-js server, same callers`, round(callers.floor.eventsPerSecond), ratio(callers.floor.eventsPerSecond / ceiling), '-', '-', '-', '-', '-', '-', round(callers.floor.serverCpuMicrosPerCall), round(callers.floor.clientCpuMicrosPerCall), '-']]),
        ],
      ),
    );
    if (callers.floor !== undefined) {
      sections.push(
        '',
        `The floor row is a grpc-js server that only decodes each request and answers its count (scripts/bench/bare-ingest-server.ts), under the same load generator on the same machine: no server of this protocol in Node.js does less per call, so its events/s bound what the vault's row can reach here.`,
      );
    }
  }
  return sections.join('\n');
}

function querySection(query: QueryReport): string {
  const pageRows = Object.entries(query.pages).map(([label, s]) => [label, fixed(s.p50, 2), fixed(s.p95, 2), String(s.count)]);
  const streamRows = Object.entries(query.stream).map(([label, s]) => [`StreamEvents, ${label}`, round(s.eventsPerSecond)]);
  return [
    `### Query (${round(query.tenantEvents)} events in the tenant, ${query.otherTenants} other tenants with ${round(query.otherTenantEvents)} each around it; pages of 100)`,
    '',
    table(['query', 'p50 ms', 'p95 ms', 'samples'], [...pageRows, [`Aggregate by type, service and 1-hour bucket (${query.aggregate.rows} rows)`, fixed(query.aggregate.p50, 1), fixed(query.aggregate.p95, 1), String(query.aggregate.count)]]),
    '',
    table(['stream', 'events/s'], streamRows),
  ].join('\n');
}

/** Issue 3's ingest targets. */
function ingestTargets(report: BenchReport, ingest: IngestScenario[]): string[][] {
  const rows: string[][] = [];
  const vault = best(ingest, 'vault');
  const vaultJson = best(ingest, 'vault', (s) => s.payload === 'json');
  const ceiling = best(ingest, 'ceiling');
  const naive = best(ingest, 'naive');
  rows.push([`vault >= ${TARGETS.ceilingRatio * 100}% of the PostgreSQL ceiling`, `${round(vault)} / ${round(ceiling)} = ${ratio(vault / ceiling)}`, check(vault / ceiling >= TARGETS.ceilingRatio)]);
  rows.push([`vault >= ${TARGETS.naiveRatio}x the naive baseline`, `${round(vault)} / ${round(naive)} = ${ratio(vault / naive)}`, check(vault / naive >= TARGETS.naiveRatio)]);
  if (vaultJson !== vault) rows.push(['(payload_json alone)', `${round(vaultJson)}`, '']);
  if (ingest.some((s) => s.path === 'otlp')) {
    const otlp = best(ingest, 'otlp');
    rows.push([`OTLP logs over gRPC >= ${TARGETS.otlpRatio}x the native payload_json path`, `${round(otlp)} / ${round(vaultJson)} = ${ratio(otlp / vaultJson)}`, check(otlp / vaultJson >= TARGETS.otlpRatio)]);
    const gap = otlpGap(ingest);
    if (gap !== undefined) {
      rows.push([
        `(the OTLP gap: native unary Ingest calls of the OTLP row's shape, ${gap.callers} callers x ${gap.batch} events)`,
        `with the bench's events ${ratio(gap.unaryBench / gap.native)} the native path; with the events the OTLP row stores ${ratio(gap.unaryOtlpEvents / gap.native)}; the OTLP row against those ${ratio(gap.otlp / gap.unaryOtlpEvents)}`,
        '',
      ]);
    }
  }
  const sdk = report.sdk;
  if (sdk) {
    rows.push([
      `${sdk.sdkLabel} >= ${TARGETS.sdkRatio}x the raw generated client (${sdk.rawLabel}; median of ${sdk.rounds.length} interleaved rounds' ratios)`,
      `${round(sdk.sdkEventsPerSecond)} / ${round(sdk.rawEventsPerSecond)}, per round ${ratio(sdk.ratio)} (against the raw client's messages encoded before its clock: ${ratio(sdk.preEncodedRatio)})`,
      check(sdk.ratio >= TARGETS.sdkRatio),
    ]);
  }
  const latency1000 = report.latency?.find((l) => l.batch === 1000);
  if (latency1000) rows.push([`p99 acknowledgement <= ${TARGETS.p99AckMs} ms at half load, 1000-event messages`, `${fixed(latency1000.latencyMs.p99)} ms`, check((latency1000.latencyMs.p99 ?? Infinity) <= TARGETS.p99AckMs)]);
  const rss16 = Math.max(...ingest.filter((s) => s.streams === 16).map((s) => s.serverPeakRssMiB ?? 0));
  rows.push([`server peak RSS <= ${TARGETS.peakRssMiB} MB with 16 streams`, `${fixed(rss16, 0)} MiB`, check(rss16 <= TARGETS.peakRssMiB)]);
  return rows;
}

/**
 * What the machine's cores allow the small-calls row at most, from the run's
 * own figures: every event costs PostgreSQL at least what it cost at the
 * ceiling (its best way of storing rows: 1000-row COPYs), and every call costs
 * at least the transport floor's server and client CPU (a grpc-js server that
 * only decodes, the same load generator). Server, database and load generator
 * share the cores, so events/s can be at most cores / (database CPU per event
 * + floor CPU per call / batch). It then says how much CPU per call the
 * target leaves for the vault's own work beyond the bare server's, against
 * what the vault spent. Undefined when a figure is missing (PostgreSQL on
 * another machine, no floor, a report from before the cores were recorded).
 */
function callersCpuBound(report: BenchReport, ingest: readonly IngestScenario[], callers: CallersResult): string | undefined {
  const cores = report.machine.cores;
  const ceilings = ingest.filter((s) => s.path === 'ceiling');
  const fastest = ceilings.reduce<IngestScenario | undefined>((top, s) => (top === undefined || s.eventsPerSecond > top.eventsPerSecond ? s : top), undefined);
  const databaseMicrosPerEvent = fastest?.databaseCpuSecondsPerMillion;
  const { floor } = callers;
  if (cores === undefined || fastest === undefined || databaseMicrosPerEvent === undefined || floor === undefined) return undefined;
  const floorMicrosPerCall = floor.serverCpuMicrosPerCall + floor.clientCpuMicrosPerCall;
  const microsPerEvent = databaseMicrosPerEvent + floorMicrosPerCall / callers.batch;
  const most = (cores * 1e6) / microsPerEvent;
  const targetEventsPerSecond = TARGETS.callersCeilingRatio * fastest.eventsPerSecond;
  const leftPerCall = ((cores * 1e6) / targetEventsPerSecond - microsPerEvent) * callers.batch;
  const vaultExtraPerCall = callers.serverCpuSecondsPerMillion * callers.batch - floor.serverCpuMicrosPerCall;
  const left = leftPerCall > 0 ? `leaves the vault ${round(leftPerCall)} µs of CPU per call beyond the bare server's` : 'leaves the vault no CPU at all beyond the bare server\'s';
  return (
    `with PostgreSQL at the ceiling's CPU per event (${fixed(databaseMicrosPerEvent)} µs) and the floor's server and client CPU per call (${round(floor.serverCpuMicrosPerCall)} + ${round(floor.clientCpuMicrosPerCall)} µs), ` +
    `this machine's ${cores} ${cores === 1 ? 'core allows' : 'cores allow'} at most ${round(most)}/s = ${ratio(most / fastest.eventsPerSecond)} the ceiling, and the target ${left} (its server spent ${round(vaultExtraPerCall)} µs more)`
  );
}

/** Issue 12's targets: small unary calls, CPU per event in both payload forms, and 4 streams against the ceiling. */
function smallCallTargets(report: BenchReport, ingest: IngestScenario[]): string[][] {
  const rows: string[][] = [];
  const ceiling = best(ingest, 'ceiling');
  const small = report.latency?.find((l) => l.batch === SMALL_UNARY_BATCH);
  if (small) {
    const p99 = small.latencyMs.p99 ?? Infinity;
    const unavailable = small.codes.UNAVAILABLE ?? 0;
    const sweep = sweepVerdict(small, TARGETS.smallUnaryP99Ms);
    rows.push([
      `unary ${SMALL_UNARY_BATCH}-event calls at half the streaming peak: p99 <= ${TARGETS.smallUnaryP99Ms} ms, no UNAVAILABLE`,
      `p50 ${fixed(small.latencyMs.p50)}, p95 ${fixed(small.latencyMs.p95)}, p99 ${fixed(small.latencyMs.p99)} ms = ${ratio(p99 / TARGETS.smallUnaryP99Ms)} the target; ${formatCodes(small.codes)}; at ${round(small.achievedEventsPerSecond)} events/s = ${ratio(small.achievedEventsPerSecond / ceiling)} the ceiling${small.unaryCapacity === undefined ? '' : ` and ${capacityShare(small)}`}${sweep ? `; ${sweep}` : ''}`,
      check(p99 <= TARGETS.smallUnaryP99Ms && unavailable === 0),
    ]);
  }
  const { callers } = report;
  if (callers) {
    const share = callers.eventsPerSecond / ceiling;
    const bound = callersCpuBound(report, ingest, callers);
    rows.push([
      `unary ${callers.batch}-event calls from ${callers.callers} concurrent callers >= ${TARGETS.callersCeilingRatio}x the ceiling`,
      `${round(callers.eventsPerSecond)} / ${round(ceiling)} = ${ratio(share)}${callers.floor === undefined ? '' : `; the transport floor (bare grpc-js server, same callers) reached ${ratio(callers.floor.eventsPerSecond / ceiling)}`}${bound === undefined ? '' : `; ${bound}`}`,
      check(share >= TARGETS.callersCeilingRatio),
    ]);
  }
  const reference = (s: IngestScenario): boolean => s.path === 'vault' && s.streams === REFERENCE_STREAMS && s.batch === REFERENCE_BATCH;
  for (const payload of ['json', 'struct'] as const) {
    const scenario = ingest.find((s) => reference(s) && s.payload === payload);
    if (!scenario?.serverCpuSecondsPerMillion) continue;
    const limit = TARGETS.cpuPerMillion[payload];
    const all = ingest.filter((s) => s.path === 'vault' && s.payload === payload).map((s) => s.serverCpuSecondsPerMillion ?? Number.NaN);
    rows.push([
      `server CPU <= ${limit} s per 1M events, ${payloadLabel(payload)} (${REFERENCE_STREAMS} streams, ${REFERENCE_BATCH}/message)`,
      `${fixed(scenario.serverCpuSecondsPerMillion)} s = ${ratio(scenario.serverCpuSecondsPerMillion / limit)} the target (${fixed(Math.min(...all))}-${fixed(Math.max(...all))} over all ${payloadLabel(payload)} streaming rows)`,
      check(scenario.serverCpuSecondsPerMillion <= limit),
    ]);
  }
  const fourStreams = ingest.find((s) => reference(s) && s.payload === 'json');
  if (fourStreams) {
    const share = fourStreams.eventsPerSecond / ceiling;
    const struct = ingest.find((s) => reference(s) && s.payload === 'struct');
    rows.push([
      `${REFERENCE_STREAMS} streams of ${REFERENCE_BATCH}-event messages (payload_json) >= ${TARGETS.fourStreamCeilingRatio}x the ceiling`,
      `${round(fourStreams.eventsPerSecond)} / ${round(ceiling)} = ${ratio(share)}${struct ? ` (Struct: ${ratio(struct.eventsPerSecond / ceiling)})` : ''}`,
      check(share >= TARGETS.fourStreamCeilingRatio),
    ]);
  }
  return rows;
}

function queryTargets(query: QueryReport): string[][] {
  const rows: string[][] = [];
  const cursor = Object.entries(query.pages).filter(([label]) => label.startsWith('cursor'));
  const worstP95 = Math.max(...cursor.map(([, s]) => s.p95 ?? Infinity));
  rows.push([`cursor page p95 <= ${TARGETS.cursorP95Ms} ms at every depth`, `worst ${fixed(worstP95, 2)} ms`, check(worstP95 <= TARGETS.cursorP95Ms)]);
  const [, shallow] = cursor[0]!;
  const [deepLabel, deep] = cursor[cursor.length - 1]!;
  const deepRatio = (deep.p95 ?? Number.NaN) / (shallow.p95 ?? Number.NaN);
  rows.push([`deepest cursor page within ${TARGETS.deepCursorRatio}x of page 1 (p95)`, `${deepLabel}: ${ratio(deepRatio)}`, check(deepRatio <= TARGETS.deepCursorRatio)]);
  const stream = Math.max(...Object.values(query.stream).map((s) => s.eventsPerSecond));
  rows.push([`StreamEvents >= ${round(TARGETS.streamEventsPerSecond)} events/s`, `${round(stream)}`, check(stream >= TARGETS.streamEventsPerSecond)]);
  rows.push([`Aggregate over the tenant <= ${TARGETS.aggregateMs} ms (p50)`, `${fixed(query.aggregate.p50, 0)} ms`, check((query.aggregate.p50 ?? Infinity) <= TARGETS.aggregateMs)]);
  return rows;
}

function targetsSection(report: BenchReport): string {
  const rows: string[][] = [];
  if (report.ingest) rows.push(...ingestTargets(report, report.ingest), ...smallCallTargets(report, report.ingest));
  if (report.query) rows.push(...queryTargets(report.query));
  return ['### Targets', '', table(['target', 'measured', 'met'], rows)].join('\n');
}

function machineSection({ machine }: BenchReport): string {
  const pgSettings = Object.entries(machine.postgres)
    .filter(([name]) => name !== 'version')
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
  return [
    `Machine: ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.os}, Node.js ${machine.node}; server, database and load generator share it.`,
    `PostgreSQL: ${machine.postgres.version.split(',')[0]} (${pgSettings}).`,
    `Vault: INGEST_BATCH_SIZE=${machine.vault.batchSize}, INGEST_FLUSH_INTERVAL=${machine.vault.flushIntervalMs}ms, INGEST_WRITE_CONCURRENCY=${machine.vault.writeConcurrency}, INGEST_GROUP_LINGER=${machine.vault.groupLingerMs}ms, DB_POOL_MAX=${machine.vault.poolMax}, QUERY_STREAM_CHUNK_SIZE=${machine.vault.streamChunkSize}.`,
  ].join('\n');
}

/** The whole report as markdown. */
function followSection(follow: FollowReport): string {
  const ms = (value: number | null): string => (value === null ? '-' : value.toFixed(1));
  const { latency } = follow;
  const baseline = follow.ingest.find((row) => row.followers === 0)?.eventsPerSecond;
  return [
    '### Live tail (StreamEvents with follow)',
    '',
    `Follow latency, one follower, unary Ingest of ${follow.batch} events at ${follow.rate} events/s (achieved ${Math.round(latency.achievedEventsPerSecond)}), ${latency.received} of ${latency.events} events received:`,
    '',
    '| from | p50 ms | p95 ms | p99 ms | max ms |',
    '|---|---|---|---|---|',
    `| commit (the call's acknowledgement) to receipt | ${ms(latency.commitToReceiptMs.p50)} | ${ms(latency.commitToReceiptMs.p95)} | ${ms(latency.commitToReceiptMs.p99)} | ${ms(latency.commitToReceiptMs.max)} |`,
    `| the call's start to receipt | ${ms(latency.sendToReceiptMs.p50)} | ${ms(latency.sendToReceiptMs.p95)} | ${ms(latency.sendToReceiptMs.p99)} | ${ms(latency.sendToReceiptMs.max)} |`,
    '',
    '| ingest (IngestStream, 4 streams x 1000/message, payload_json) | events/s | vs 0 followers | events each follower received |',
    '|---|---|---|---|',
    ...follow.ingest.map(
      (row) =>
        `| ${row.followers} followers of one tenant and filter | ${Math.round(row.eventsPerSecond)} | ${baseline ? `${(row.eventsPerSecond / baseline).toFixed(2)}x` : '-'} | ${row.followers > 0 ? followersReceived(row) : '-'} |`,
    ),
    ...(follow.writerCost === undefined || follow.writerCost.length === 0 ? [] : ['', ...writerCostTable(follow.writerCost)]),
  ].join('\n');
}

/** The followers' column: what each got, and how many were ended as slow consumers (RESOURCE_EXHAUSTED). */
function followersReceived(row: FollowReport['ingest'][number]): string {
  const cutOff = row.cutOff ?? 0;
  if (cutOff === 0) return String(row.received);
  if (cutOff === row.followers) return `all ${cutOff} ended as slow consumers (RESOURCE_EXHAUSTED)`;
  return `${row.received} (${row.followers - cutOff} followers); ${cutOff} ended as slow consumers (RESOURCE_EXHAUSTED)`;
}

/** Live tail's cost to ingest with 0 followers: the writer's statements with it (lock + notice CTE) against without it. */
function writerCostTable(rows: readonly LiveTailWriterCost[]): string[] {
  const cpu = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(1));
  return [
    "Live tail's cost to ingest with 0 followers: the writer's statements (COPY + merge, the ceiling path) with live tail (its shared lock and notice CTE) and without, alternating; ratios are on/off within each round, medians:",
    '',
    '| writer transactions | rounds | events/s off | events/s on (0 followers) | on/off | DB CPU s/M events off | on | on/off |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.batch} events each, ${row.connections} connections, ${row.events} events | ${row.rounds} | ${Math.round(row.offEventsPerSecond)} | ${Math.round(row.onEventsPerSecond)} | ${row.rateRatio.toFixed(3)}x | ${cpu(row.offDatabaseCpuSecondsPerMillion)} | ${cpu(row.onDatabaseCpuSecondsPerMillion)} | ${row.databaseCpuRatio === undefined ? '-' : `${row.databaseCpuRatio.toFixed(3)}x`} |`,
    ),
  ];
}

export function formatReport(report: BenchReport): string {
  const sections = [`## Benchmark (${report.mode}, ${report.startedAt})`, '', machineSection(report)];
  if (report.ingest) sections.push('', ingestSection(report, report.ingest));
  if (report.follow) sections.push('', followSection(report.follow));
  if (report.query) sections.push('', querySection(report.query));
  sections.push('', targetsSection(report), '');
  return `${sections.join('\n')}\n`;
}
