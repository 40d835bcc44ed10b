/**
 * The long, hand-run fuzz mode:
 *
 *   npm run fuzz -- [--seed N] [--count N] [--duration S] [--concurrency N] [--database-url URL]
 *
 * Starts `telemetry-vault serve` as a process of its own (the built dist/),
 * on a fresh database in the PostgreSQL at --database-url (an admin URL, such
 * as postgres://postgres@127.0.0.1:5432/postgres) or else in an embedded
 * PostgreSQL in a temporary directory, and sends it the cases of the CI fuzz
 * test (scripts/fuzz/fuzz-cases.ts): the named ones first, then rounds of
 * --count random and mutated requests per RPC until --duration seconds have
 * passed, then the named ones again. Each round also sends the HTTP family
 * (scripts/fuzz/http-cases.ts: malformed requests, random bytes and mutated
 * requests as raw TCP) to the operations port. Prints a progress line every few
 * seconds and a summary of status codes; exits 1 when the server crashed,
 * answered INTERNAL or UNKNOWN, lost a valid event, left a database
 * connection checked out, or did not shut down cleanly; 2 on a bad command line.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../../src/config/load-config';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';
import { PrometheusText } from '../../test/support/prometheus-text';
import { ServerProcess } from '../../test/support/server-process';
import { withDatabaseName } from '../../test/support/test-database';
import { fuzzCases } from './fuzz-cases';
import { FuzzClient } from './fuzz-client';
import { caseContext, createFuzzTarget, newRunId } from './fuzz-target';
import { httpRandomCases, httpTargetedCases } from './http-cases';
import { Prng } from './prng';
import { HttpFuzzReport, runHttpFuzzCases } from './run-http-fuzz';
import { FuzzReport, runFuzzCases } from './run-fuzz-cases';

const USAGE = 'usage: npm run fuzz -- [--seed N] [--count N (cases per RPC per round, default 100)] [--duration S (default 60)] [--concurrency N (default 4)] [--database-url postgres://...]';
const PROGRESS_EVERY_MS = 5000;
/** Growth of the server's heap from the end of the first round to the end that counts as a leak. */
const HEAP_GROWTH_LIMIT_BYTES = 256 * 2 ** 20;

interface Options {
  readonly seed: number;
  readonly count: number;
  readonly durationS: number;
  readonly concurrency: number;
  readonly databaseUrl: string | undefined;
}

function readOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: { seed: { type: 'string' }, count: { type: 'string' }, duration: { type: 'string' }, concurrency: { type: 'string' }, 'database-url': { type: 'string' } },
    strict: true,
  });
  const integer = (name: string, value: string | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min) throw new Error(`--${name} must be a whole number of at least ${min} (got "${value}")`);
    return parsed;
  };
  return {
    seed: integer('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0),
    count: integer('count', values.count, 100, 1),
    durationS: integer('duration', values.duration, 60, 0),
    concurrency: integer('concurrency', values.concurrency, 4, 1),
    databaseUrl: values['database-url'],
  };
}

/** The PostgreSQL to create the run's database in: the one given, or an embedded one of our own. */
async function openPostgres(databaseUrl: string | undefined): Promise<{ adminUrl: string; description: string; close: () => Promise<void> }> {
  if (databaseUrl !== undefined) return { adminUrl: databaseUrl, description: databaseUrl.replace(/\/\/[^@/]*@/, '//***@'), close: async () => undefined };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-fuzz-pg-'));
  const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: pino({ level: 'warn' }), settings: { fsync: 'off' } });
  return {
    adminUrl: cluster.urlFor('postgres'),
    description: `embedded PostgreSQL in ${dataDir}`,
    close: async () => {
      await cluster.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The server's /metrics, parsed; undefined when it does not answer. */
async function scrape(httpPort: number): Promise<PrometheusText | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    return PrometheusText.parse(await response.text());
  } catch {
    return undefined;
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<number> {
  let options: Options;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const runId = newRunId();
  const postgres = await openPostgres(options.databaseUrl);
  const databaseName = `tv_${runId}`;
  await adminQuery(postgres.adminUrl, `CREATE DATABASE ${databaseName}`);
  const databaseUrl = withDatabaseName(postgres.adminUrl, databaseName);
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  // The failed-authentication limit would answer the metadata cases before authentication does; its own tests cover it.
  const env = { DATABASE_URL: databaseUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), HTTP_HOST: '127.0.0.1', HTTP_PORT: String(httpPort), LOG_LEVEL: 'warn', AUTH_FAILURE_BURST: '1000000' };
  const config = loadConfig(env);
  process.stdout.write(
    `fuzz: seed ${options.seed}, ${options.count} random and mutated cases per RPC per round, ${options.durationS} s, ${options.concurrency} calls in flight\n` +
      `fuzz: database ${databaseName} on ${postgres.description}; server on 127.0.0.1:${grpcPort} (GRPC_MAX_RECEIVE_MESSAGE_SIZE ${config.grpc.maxReceiveMessageBytes} bytes)\n` +
      `fuzz: reproduce with npm run fuzz -- --seed ${options.seed} --count ${options.count} --duration ${options.durationS}\n`,
  );

  const server = new ServerProcess(env);
  let stopping = false;
  let crash: string | undefined;
  void server.exited.then(({ code, signal }) => {
    if (!stopping) crash = `the server exited during the run (code ${code}, signal ${signal})\n${server.stderr.slice(-4000)}`;
  });
  const client = new FuzzClient(`127.0.0.1:${grpcPort}`);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const total = new FuzzReport();
  const httpTotal = new HttpFuzzReport();
  const problems: string[] = [];
  try {
    const startedAt = Date.now();
    while ((await client.health(2000)) !== 'SERVING') {
      if (crash !== undefined) throw new Error(crash);
      if (Date.now() - startedAt > 120_000) throw new Error(`the server did not serve within 120 s:\n${server.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const target = await createFuzzTarget(pool, client, config, runId);

    let lastProgress = Date.now();
    const runStarted = Date.now();
    let heapAfterFirstRound: number | undefined;
    const progress = async (round: number, report: FuzzReport): Promise<void> => {
      if (Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = Date.now();
      const calls = total.calls + report.calls;
      const outcomes = new Map<string, number>();
      for (const source of [total, report]) for (const counts of source.outcomes.values()) for (const [outcome, count] of counts) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + count);
      const heap = (await scrape(httpPort))?.matching('nodejs_heap_size_used_bytes')[0]?.value;
      const elapsed = (Date.now() - runStarted) / 1000;
      process.stdout.write(
        `[${elapsed.toFixed(0).padStart(5)} s] round ${round}, ${calls} calls (${(calls / elapsed).toFixed(0)}/s), ` +
          `${[...outcomes].sort(([, a], [, b]) => b - a).map(([outcome, count]) => `${outcome} ${count}`).join(', ')}; ` +
          `${total.failures.length + report.failures.length} failures; server heap ${heap === undefined ? '?' : mib(heap)}\n`,
      );
    };
    const runRound = async (round: number, targeted: boolean, count: number): Promise<void> => {
      const cases = fuzzCases(new Prng(options.seed).fork(`round ${round}`), caseContext(config, runId, round), { count, targeted });
      const report = await runFuzzCases(cases, target, { concurrency: options.concurrency, onCase: (_done, partial) => void progress(round, partial) });
      total.add(report);
      const httpCases = [...(targeted ? httpTargetedCases() : []), ...httpRandomCases(new Prng(options.seed).fork(`http round ${round}`), count)];
      httpTotal.add(await runHttpFuzzCases(httpPort, httpCases, { concurrency: options.concurrency }));
    };

    let round = 0;
    await runRound(round++, true, options.count);
    heapAfterFirstRound = (await scrape(httpPort))?.matching('nodejs_heap_size_used_bytes')[0]?.value;
    while (crash === undefined && Date.now() - runStarted < options.durationS * 1000) await runRound(round++, false, options.count);
    // The named cases once more, after the barrage: the server must still answer them the same way.
    if (crash === undefined && round > 1) await runRound(round++, true, 0);

    if (crash !== undefined) problems.push(crash);
    if (client.inFlight !== 0) problems.push(`${client.inFlight} calls never ended`);
    let checkedOut = Number.NaN;
    for (let attempt = 0; attempt < 50 && crash === undefined; attempt++) {
      const metrics = await scrape(httpPort);
      const pools = (state: string): number => metrics?.value('telemetry_vault_db_pool_connections', { pool: 'primary', state }) ?? Number.NaN;
      checkedOut = pools('total') - pools('idle');
      if (checkedOut === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (crash === undefined && checkedOut !== 0) problems.push(`the primary pool still has ${checkedOut} connections checked out after the calls ended`);
    const heapAtEnd = (await scrape(httpPort))?.matching('nodejs_heap_size_used_bytes')[0]?.value;
    if (heapAfterFirstRound !== undefined && heapAtEnd !== undefined) {
      process.stdout.write(`fuzz: server heap ${mib(heapAfterFirstRound)} after the first round, ${mib(heapAtEnd)} at the end (no forced GC: a loose check)\n`);
      if (heapAtEnd - heapAfterFirstRound > HEAP_GROWTH_LIMIT_BYTES) problems.push(`the server's heap grew by ${mib(heapAtEnd - heapAfterFirstRound)} during the run`);
    }
    process.stdout.write(`fuzz: ${round} rounds in ${((Date.now() - runStarted) / 1000).toFixed(0)} s\n`);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  } finally {
    client.close();
    stopping = true;
    if (crash === undefined) {
      server.signal('SIGTERM');
      const exit = await Promise.race([server.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), config.shutdownGraceMs + 15_000))]);
      if (exit === undefined) {
        problems.push('the server did not stop after SIGTERM');
        server.signal('SIGKILL');
      } else if (exit.code !== 0) {
        problems.push(`the server exited with code ${exit.code} (signal ${exit.signal}) after SIGTERM:\n${server.stderr.slice(-4000)}`);
      }
    }
    const errors = server.records().filter((record) => Number(record.level) >= 50);
    if (errors.length > 0) problems.push(`the server logged ${errors.length} errors, e.g. ${JSON.stringify(errors[0]).slice(0, 1500)}`);
    await pool.end();
    await adminQuery(postgres.adminUrl, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch((error: unknown) => problems.push(`dropping ${databaseName}: ${String(error)}`));
    await postgres.close();
  }
  process.stdout.write(`\n${total.summary()}\n${httpTotal.summary()}\n`);
  for (const problem of problems) process.stdout.write(`FAILED: ${problem}\n`);
  const failed = total.failures.length > 0 || httpTotal.failures.length > 0 || problems.length > 0;
  process.stdout.write(failed ? `fuzz: FAILED (seed ${options.seed})\n` : 'fuzz: passed\n');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
