/**
 * Two builds of the server under the same ingest load, in one run, rounds
 * interleaved (before, after, after, before, ...), so that a noisy shared
 * machine moves both alike. What docs/performance.md's per-call A/B figures
 * come from.
 *
 *   npm run build --silent && npm run build:client --silent
 *   node -r ./scripts/register-ts.js scripts/bench/compare-servers.ts --before /path/to/other/checkout [--rounds 5]
 *     [--callers 64 --batch 10 | --streams 4 --batch 1000] [--payload json|struct] [--seconds 5] [--events 200000]
 *
 * --client http2: the callers use the lean node:http2 client (scripts/load/h2-unary-client.ts) instead of grpc-js's.
 * --before-env / --after-env: more environment (JSON) for that server, e.g.
 * `--before . --after-env '{"LOG_LEVEL":"warn"}'` compares two settings of one build.
 * --warmup N: uncounted runs of each build first (1).
 * --otlp: the load is OTLP logs over gRPC instead (LogsService/Export,
 * --streams exporters of --batch records, default 512, each waiting for its
 * answer; --events records), and each round also measures the native
 * payload_json path (4 streams x 1000/message, the same --events) on each
 * build, for issue 13's target: the OTLP/native events/s ratio per build and round.
 * --profile DIR: both servers run under `node --cpu-prof`; their profiles
 * are written to DIR/before and DIR/after when they exit.
 * --before: a checkout (or a copy of its bin/ and dist/, with node_modules
 * beside them) of the build to compare with; "after" is this checkout. Both
 * servers run at once against one embedded PostgreSQL, each idle while the
 * other is measured. With --callers, that many closed-loop callers send
 * unary calls of --batch events for --seconds (or until --events are sent); otherwise --streams streams
 * send --events events in messages of --batch. Each run reports events/s,
 * the server's CPU per million events and per call (from /proc), the
 * database's (all processes of the bench's PostgreSQL, when it runs on this
 * machine), and the load average when it ended; then the medians per build.
 * Every run, warm-up included, starts from an emptied events table
 * (TRUNCATE, then CHECKPOINT), as the bench's rows do: without it the table
 * grew over the whole comparison and each run paid for the rows of the runs
 * before it (bigger indexes, autovacuum, checkpoints at other moments).
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { runMigrations } from '../../src/storage/run-migrations';
import { createBenchTenants, openBenchDatabase } from './bench-database';
import { clientCpuMicrosPerCall, median } from './format-report';
import type { PayloadMode } from './event-shape';
import { LoadGenerator } from './load-generator-process';
import { postgresCpuSeconds } from './proc-stat';
import { VaultProcess } from './vault-process';

const log = (line: string): void => void process.stderr.write(`[compare-servers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Run {
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly cpuMicrosPerCall: number;
  /** CPU of the whole PostgreSQL (postmaster and every child) per million events; NaN when it is not on this machine. */
  readonly databaseCpuSecondsPerMillion: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      callers: { type: 'string' },
      streams: { type: 'string', default: '4' },
      batch: { type: 'string' },
      payload: { type: 'string', default: 'json' },
      seconds: { type: 'string', default: '5' },
      events: { type: 'string', default: '200000' },
      'before-env': { type: 'string' },
      'after-env': { type: 'string' },
      profile: { type: 'string' },
      warmup: { type: 'string', default: '1' },
      otlp: { type: 'boolean', default: false },
      client: { type: 'string', default: 'grpc-js' },
    },
  });
  if (values.before === undefined) throw new Error('--before: the checkout of the server build to compare with');
  const roots = { before: path.resolve(values.before), after: path.resolve(__dirname, '../..') };
  const rounds = Number(values.rounds);
  const callers = values.callers === undefined ? undefined : Number(values.callers);
  const otlp = values.otlp === true;
  const batch = Number(values.batch ?? (otlp ? 512 : callers === undefined ? 1000 : 10));
  const payload = values.payload as PayloadMode;
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log });
  const loadGenerator = new LoadGenerator();
  const vaults: Partial<Record<keyof typeof roots, VaultProcess>> = {};
  const admin = new pg.Client({ connectionString: database.url });
  try {
    await runMigrations(database.url, pino({ level: 'silent' }));
    const keys = (await createBenchTenants(database.url, 'compare')).map((tenant) => tenant.key);
    const env = { DATABASE_URL: database.url, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', OTLP_GRPC_PORT: '0', OTLP_HTTP_PORT: '0' };
    const extraEnv = { before: JSON.parse(values['before-env'] ?? '{}') as Record<string, string>, after: JSON.parse(values['after-env'] ?? '{}') as Record<string, string> };
    const nodeArgs = (build: keyof typeof roots): string[] => (values.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.join(path.resolve(values.profile), build)}`]);
    for (const build of ['before', 'after'] as const) vaults[build] = new VaultProcess({ ...env, ...extraEnv[build] }, nodeArgs(build), roots[build]);
    const targets = { before: `127.0.0.1:${(await vaults.before!.serving).grpcPort}`, after: `127.0.0.1:${(await vaults.after!.serving).grpcPort}` };
    let runs = 0;
    await admin.connect();
    const measure = async (build: keyof typeof roots, native = false): Promise<Run> => {
      const target = targets[build];
      const run = `${build}-${runs++}`;
      await admin.query('TRUNCATE events');
      await admin.query('CHECKPOINT').catch(() => undefined);
      const databaseBefore = await postgresCpuSeconds(database.url);
      const { result, cpuSeconds } = await vaults[build]!.measure(() =>
        native
          ? loadGenerator.run('vaultIngest', { target, keys, run, streams: 4, batch: 1000, payload: 'json', count: Number(values.events), eventsPerCall: 20_000 })
          : otlp
          ? loadGenerator.run('otlpIngest', { target, keys, run, streams: Number(values.streams), batch, count: Number(values.events) })
          : callers !== undefined
          ? loadGenerator.run('vaultCallers', { target, keys, run, callers, batch, payload, count: Number(values.events), durationMs: Number(values.seconds) * 1000, client: values.client as 'grpc-js' | 'http2' })
          : loadGenerator.run('vaultIngest', { target, keys, run, streams: Number(values.streams), batch, payload, count: Number(values.events), eventsPerCall: 20_000 }),
      );
      const databaseCpu = (await postgresCpuSeconds(database.url)) - databaseBefore;
      const measured = {
        eventsPerSecond: result.events / (result.elapsedMs / 1000),
        cpuSecondsPerMillion: (cpuSeconds / result.events) * 1e6,
        cpuMicrosPerCall: (cpuSeconds / result.calls) * 1e6,
        databaseCpuSecondsPerMillion: (databaseCpu / result.events) * 1e6,
      };
      log(
        `${build.padEnd(6)} ${native ? 'native ' : ''}${Math.round(measured.eventsPerSecond)} events/s, server CPU ${measured.cpuSecondsPerMillion.toFixed(2)} s per 1M, database CPU ${measured.databaseCpuSecondsPerMillion.toFixed(1)} s per 1M, ${Math.round(measured.cpuMicrosPerCall)} us per call (client ${Math.round(clientCpuMicrosPerCall(result))} us; ${result.calls} calls, ${JSON.stringify(result.codes)}), load average ${os.loadavg()[0]!.toFixed(1)}`,
      );
      return measured;
    };
    // Warm-up runs (JIT, pool connections, partitions), not counted: CPU per call falls for the first ~10 000 calls.
    for (let warmup = 0; warmup < Number(values.warmup); warmup++) {
      await measure('before');
      await measure('after');
    }
    const results: Record<keyof typeof roots, Run[]> = { before: [], after: [] };
    const nativeResults: Record<keyof typeof roots, Run[]> = { before: [], after: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
      for (const build of order) {
        // With --otlp, each build's native reference right before its OTLP run.
        if (otlp) nativeResults[build].push(await measure(build, true));
        results[build].push(await measure(build));
      }
    }
    const summary = (build: keyof typeof roots): string => {
      const runsOf = results[build];
      return `${build.padEnd(6)} median ${Math.round(median(runsOf.map((r) => r.eventsPerSecond)))} events/s, ${median(runsOf.map((r) => r.cpuSecondsPerMillion)).toFixed(2)} CPU-s per 1M, database ${median(runsOf.map((r) => r.databaseCpuSecondsPerMillion)).toFixed(1)} CPU-s per 1M, ${Math.round(median(runsOf.map((r) => r.cpuMicrosPerCall)))} us per call`;
    };
    const ratios = results.after.map((after, index) => after.eventsPerSecond / results.before[index]!.eventsPerSecond);
    process.stdout.write(`${callers !== undefined ? `${callers} callers` : `${values.streams} ${otlp ? 'OTLP exporters' : 'streams'}`} x ${batch} ${otlp ? 'records' : 'events'}, ${otlp ? 'OTLP logs' : payload}, ${rounds} rounds\n${summary('before')}\n${summary('after')}\nafter/before events/s per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})\n`);
    if (otlp) {
      for (const build of ['before', 'after'] as const) {
        const perRound = results[build].map((run, index) => run.eventsPerSecond / nativeResults[build][index]!.eventsPerSecond);
        const nativeCpu = median(nativeResults[build].map((r) => r.cpuSecondsPerMillion));
        const nativeDatabaseCpu = median(nativeResults[build].map((r) => r.databaseCpuSecondsPerMillion));
        process.stdout.write(
          `${build.padEnd(6)} OTLP/native events/s per round: ${perRound.map((r) => r.toFixed(2)).join(', ')} (median ${median(perRound).toFixed(2)}); native median ${Math.round(median(nativeResults[build].map((r) => r.eventsPerSecond)))} events/s, ${nativeCpu.toFixed(2)} CPU-s per 1M, database ${nativeDatabaseCpu.toFixed(1)} CPU-s per 1M\n`,
        );
      }
    }
  } finally {
    loadGenerator.stop();
    await admin.end().catch(() => undefined);
    await Promise.all(Object.values(vaults).map((vault) => vault.stop()));
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
