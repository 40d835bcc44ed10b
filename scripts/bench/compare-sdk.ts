/**
 * Two builds of the Node.js client against the raw generated client, in one
 * run, rounds interleaved (raw, before, after, raw, ...), so that a noisy
 * machine moves all three alike. What docs/performance.md's SDK figures come
 * from; the usual bench row is `npm run bench` ("SDK, 4 concurrent ingesters").
 *
 *   npm run build --silent && npm run build:client --silent
 *   node -r ./scripts/register-ts.js scripts/bench/compare-sdk.ts --before /path/to/other/clients/node/dist [--rounds 3] [--events 20000] [--profile DIR]
 *     [--events-per-call 10000] [--before-options JSON] [--after-options JSON]
 *
 * --profile DIR runs the load generator under `node --cpu-prof` (the profile
 * is written to DIR when it exits): the load side, where the client's cost is.
 * --events-per-call: the raw client's stream length (run-bench's: 10 000 with
 * --quick, 20 000 in a full run). --before-options / --after-options: ingester options (JSON) for that build,
 * e.g. `--before clients/node/dist --before-options '{"maxConcurrentStreams":1}'`
 * compares two settings of one build. Each run reports the load generator's CPU
 * per event during its timed part (the client's own cost), beside events/s.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { runMigrations } from '../../src/storage/run-migrations';
import { createBenchTenants, openBenchDatabase } from './bench-database';
import type { JobReply, LoadGeneratorJobs } from './load-generator';
import { VaultProcess } from './vault-process';

const ROOT = path.resolve(__dirname, '../..');
const INGESTERS = 4;
const log = (line: string): void => void process.stderr.write(`[compare-sdk ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { before: { type: 'string' }, rounds: { type: 'string', default: '3' }, events: { type: 'string', default: '20000' }, profile: { type: 'string' }, 'events-per-call': { type: 'string', default: '10000' }, 'before-options': { type: 'string' }, 'after-options': { type: 'string' } } });
  if (values.before === undefined) throw new Error('--before: the dist/ folder of the client build to compare with');
  const before = path.resolve(values.before);
  const rounds = Number(values.rounds);
  const count = Number(values.events);
  const ingesterOptions = { before: values['before-options'] === undefined ? undefined : JSON.parse(values['before-options']), after: values['after-options'] === undefined ? undefined : JSON.parse(values['after-options']) };
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log });
  const execArgv = ['--enable-source-maps', '-r', path.join(ROOT, 'scripts/register-ts.js'), ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values.profile)}`] : [])];
  const child = fork(path.join(__dirname, 'load-generator.ts'), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 0;
  const pending = new Map<number, (reply: JobReply) => void>();
  child.on('message', (reply: JobReply) => pending.get(reply.id)?.(reply));
  type Outcome = { eventsPerSecond: number; events: number; clientCpuMs?: number; calls?: number; messages?: number };
  const run = <K extends keyof LoadGeneratorJobs>(job: K, params: Parameters<LoadGeneratorJobs[K]>[0]): Promise<Outcome> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (reply) => (reply.error === undefined ? resolve(reply.result as Outcome) : reject(new Error(reply.error))));
      child.send({ id, job, params });
    });
  let vault: VaultProcess | undefined;
  const db = new pg.Client({ connectionString: database.url });
  try {
    await runMigrations(database.url, pino({ level: 'silent' }));
    const keys = (await createBenchTenants(database.url, 'compare')).map((tenant) => tenant.key);
    vault = new VaultProcess({ DATABASE_URL: database.url, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' });
    const server = vault;
    const target = `127.0.0.1:${(await server.serving).grpcPort}`;
    await db.connect();
    const figures: Record<string, number[]> = { raw: [], before: [], after: [] };
    /** The load generator's CPU per event (µs) during each timed run: the client's own cost. */
    const cpu: Record<string, number[]> = { raw: [], before: [], after: [] };
    /** The server's CPU per event (µs) during each run. */
    const serverCpu: Record<string, number[]> = { raw: [], before: [], after: [] };
    // Round 0 is a warm-up, not counted: otherwise the first row of round 1 (raw) pays for a cold process.
    for (let round = -1; round < rounds; round++) {
      for (const which of ['raw', 'before', 'after'] as const) {
        await db.query('TRUNCATE events');
        const runName = `c${round + 1}-${which}`;
        const { result, cpuSeconds } = await server.measure(() =>
          which === 'raw'
            ? run('vaultIngest', { target, keys, run: runName, streams: INGESTERS, batch: 1000, payload: 'json', count, eventsPerCall: Number(values['events-per-call']) })
            : run('sdkIngest', { target, keys, run: runName, ingesters: INGESTERS, count, ingesterOptions: ingesterOptions[which], ...(which === 'before' ? { clientModule: before } : {}) }),
        );
        const stored = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);
        const commits = Number((await db.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM events')).rows[0]!.n);
        if (stored !== count) throw new Error(`${which}: ${stored} rows stored for ${count} events`);
        if (round < 0) {
          log(`warm-up ${which}: ${Math.round(result.eventsPerSecond)} events/s`);
          continue;
        }
        figures[which]!.push(result.eventsPerSecond);
        cpu[which]!.push(((result.clientCpuMs ?? Number.NaN) * 1000) / count);
        serverCpu[which]!.push((cpuSeconds * 1e6) / count);
        log(`round ${round + 1} ${which}: ${Math.round(result.eventsPerSecond)} events/s, client CPU ${cpu[which]!.at(-1)!.toFixed(1)} µs/event, server CPU ${serverCpu[which]!.at(-1)!.toFixed(1)} µs/event, ${result.calls ?? '?'} calls, ${result.messages ?? '?'} messages, ${commits} commits`);
      }
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const raw = median(figures.raw!);
    process.stdout.write(`| client | events/s (median of ${rounds}) | ratio to the raw generated client | client CPU µs/event (median) | server CPU µs/event (median) |\n|---|---|---|---|---|\n`);
    for (const which of ['raw', 'before', 'after'] as const) {
      const options = which === 'raw' ? undefined : values[`${which}-options`];
      const label = which === 'raw' ? `raw generated client, ${INGESTERS} streams, 1000/message` : `SDK ${which} (${which === 'before' ? before : 'this checkout'}${options === undefined ? '' : `, ${options}`}), ${INGESTERS} ingesters`;
      process.stdout.write(`| ${label} | ${Math.round(median(figures[which]!))} | ${(median(figures[which]!) / raw).toFixed(2)}x | ${median(cpu[which]!).toFixed(1)} | ${median(serverCpu[which]!).toFixed(1)} |\n`);
    }
    // Per-round ratios too: each round's three runs saw the same machine.
    for (let round = 0; round < rounds; round++) {
      process.stdout.write(`round ${round + 1}: before ${(figures.before![round]! / figures.raw![round]!).toFixed(2)}x, after ${(figures.after![round]! / figures.raw![round]!).toFixed(2)}x\n`);
    }
    const roundRatios = (which: 'before' | 'after'): number[] => figures[which]!.map((value, round) => value / figures.raw![round]!);
    process.stdout.write(`per-round ratio, median: before ${median(roundRatios('before')).toFixed(2)}x, after ${median(roundRatios('after')).toFixed(2)}x\n`);
  } finally {
    await db.end().catch(() => undefined);
    // Disconnecting lets the load generator exit by itself, which writes its CPU profile.
    child.disconnect();
    await new Promise((resolve) => child.once('exit', resolve));
    await vault?.stop();
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
