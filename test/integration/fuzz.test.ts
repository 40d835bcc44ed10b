import v8 from 'node:v8';
import vm from 'node:vm';
import { getChannelzHandlers, logVerbosity, setLogVerbosity } from '@grpc/grpc-js';
import { loadConfig, type Config } from '../../src/config/load-config';
import { FuzzClient } from '../../scripts/fuzz/fuzz-client';
import { fuzzCases, targetedCases } from '../../scripts/fuzz/fuzz-cases';
import type { FuzzCase } from '../../scripts/fuzz/fuzz-case';
import { caseContext, createFuzzTarget, newRunId } from '../../scripts/fuzz/fuzz-target';
import { httpRandomCases, httpTargetedCases } from '../../scripts/fuzz/http-cases';
import { Prng } from '../../scripts/fuzz/prng';
import { httpHealthy, runHttpFuzzCases } from '../../scripts/fuzz/run-http-fuzz';
import { runFuzzCases, type FuzzReport, type FuzzTarget } from '../../scripts/fuzz/run-fuzz-cases';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, type TestServer } from '../support/test-server';

/** Fixed in CI so that a failure reproduces; FUZZ_SEED and FUZZ_COUNT override (npm run fuzz runs longer). */
const SEED = Number(process.env.FUZZ_SEED ?? 1_000_003);
const COUNT = Number(process.env.FUZZ_COUNT ?? 40);
/** Two calls in flight: calls overlap (as on a real server) while the run stays light on a shared 2-core machine. */
const CONCURRENCY = 2;

/**
 * The server's configuration, as the cases need to know its limits. A 4 MiB
 * message limit (instead of 16 MiB) keeps the at/over-the-limit messages cheap;
 * 100 000 events still fit in one message.
 */
const SERVER_ENV = { GRPC_MAX_RECEIVE_MESSAGE_SIZE: '4MiB', AUTH_FAILURE_BURST: '1000000', LOG_LEVEL: 'warn' };

/** Which targeted cases a test runs, by the start of their names. */
const named =
  (...patterns: RegExp[]) =>
  (fuzzCase: FuzzCase): boolean =>
    patterns.some((pattern) => pattern.test(fuzzCase.name));

/** The report's failures, with the summary printed when there are any (the seed reproduces them). */
function failuresOf(report: FuzzReport, cases: readonly FuzzCase[]): string[] {
  expect(report.calls).toBe(cases.length);
  if (report.failures.length > 0) process.stderr.write(`fuzz seed ${SEED}, count ${COUNT}:\n${report.summary()}\n`);
  return report.failures.map((failure) => `${failure.caseName.slice(0, 200)} -> ${failure.outcome} ${failure.details.slice(0, 120)}: ${failure.problems.join('; ')}`);
}

describe(`bad input (fuzz seed ${SEED}, ${COUNT} random and mutated requests per RPC)`, () => {
  let db: TestDatabase;
  let server: TestServer;
  let config: Config;
  let client: FuzzClient;
  let target: FuzzTarget;
  let runId: string;
  let targeted: FuzzCase[];
  const reports: FuzzReport[] = [];

  const run = async (cases: readonly FuzzCase[]): Promise<FuzzReport> => {
    const report = await runFuzzCases(cases, target, { concurrency: CONCURRENCY });
    reports.push(report);
    return report;
  };

  beforeAll(async () => {
    process.stdout.write(`fuzz: seed ${SEED} (FUZZ_SEED), ${COUNT} cases per RPC (FUZZ_COUNT)\n`);
    db = await createTestDatabase();
    server = await startTestServer(db.url, SERVER_ENV);
    config = loadConfig({ DATABASE_URL: db.url, ...SERVER_ENV });
    client = new FuzzClient(server.address);
    runId = newRunId();
    target = await createFuzzTarget(db.pool, client, config, runId);
    targeted = targetedCases(new Prng(SEED).fork('targeted'), caseContext(config, runId, 0));
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    await db?.drop();
  });

  test('when random bytes and mutated valid requests go to each RPC, then every call ends OK or INVALID_ARGUMENT, the server stays SERVING, and every event it did not reject is stored', async () => {
    const cases = fuzzCases(new Prng(SEED), caseContext(config, runId, 1), { count: COUNT, targeted: false });
    const report = await run(cases);
    expect(failuresOf(report, cases)).toEqual([]);
    // Both kinds of input were met: some mutated requests still decode and are served.
    expect(report.kinds.get('random')).toBeGreaterThan(0);
    expect(report.kinds.get('mutation')).toBeGreaterThan(0);
  });

  test('when well-formed ingest messages mix valid events with huge strings, 10 000-deep payloads, invalid UTF-8, NUL bytes, bad timestamps and unstorable payloads, then each bad event is rejected alone and every valid one is stored', async () => {
    const cases = targeted.filter(named(/^Ingest(Stream)?: (huge strings|payloads nested|invalid UTF-8|NUL in|timestamps|payloads PostgreSQL)/));
    expect(cases).toHaveLength(12);
    expect(failuresOf(await run(cases), cases)).toEqual([]);
  });

  test('when messages are one byte under, exactly at and one byte over GRPC_MAX_RECEIVE_MESSAGE_SIZE, then under and at are served (events stored) and over is RESOURCE_EXHAUSTED, on every RPC', async () => {
    const cases = targeted.filter(named(/-byte limit/));
    expect(cases).toHaveLength(15);
    expect(failuresOf(await run(cases), cases)).toEqual([]);
  });

  test('when metadata is wrong (binary keys, non-ASCII, duplicated or huge keys, garbage schemes, bad request ids and traceparents), then authentication fails with UNAUTHENTICATED, log-only headers never fail a call, and HTTP/2-level excess is refused by the transport', async () => {
    const cases = targeted.filter(named(/: metadata: /));
    expect(cases.length).toBeGreaterThan(150);
    // grpc-js logs (console.error) each non-ASCII header it drops on the server's side; that is expected here.
    setLogVerbosity(logVerbosity.NONE);
    try {
      expect(failuresOf(await run(cases), cases)).toEqual([]);
    } finally {
      setLogVerbosity(logVerbosity.ERROR);
    }
  });

  test('when cursors, filters and arguments are garbage (huge lists, deep or huge payload_contains, timestamps out of range, unknown enums, negative limits, huge pages and buckets), then each is INVALID_ARGUMENT with a BadRequest naming the field, and valid extremes are served', async () => {
    const cases = targeted.filter((fuzzCase) => ['QueryEvents', 'StreamEvents', 'Aggregate'].includes(fuzzCase.rpc) && !named(/: metadata: /, /-byte limit/)(fuzzCase));
    expect(cases.length).toBeGreaterThan(100);
    expect(failuresOf(await run(cases), cases)).toEqual([]);
  });

  test('when one message carries 100 000 events, then (after the other cases, as a tenant of its own) with a burst above that every valid one is stored and the counts add up, and with the default burst the call is INVALID_ARGUMENT naming events and stores nothing', async () => {
    const cases = targeted.filter(named(/100000 events in one message/));
    expect(cases).toHaveLength(2);
    expect(failuresOf(await run(cases), cases)).toEqual([]);
  });

  test('when the HTTP port gets raw malformed requests (request lines, targets such as //%00, methods, versions, headers, bodies), random bytes and mutated valid requests, then every connection gets an allowed status (never a 500) or is closed, nothing is logged as an error, and both ports still serve', async () => {
    const cases = [...httpTargetedCases(), ...httpRandomCases(new Prng(SEED).fork('http'), COUNT)];
    const report = await runHttpFuzzCases(server.vault.httpPort, cases, { concurrency: CONCURRENCY });
    if (report.failures.length > 0) process.stderr.write(`fuzz seed ${SEED}, count ${COUNT}:\n${report.summary()}\n`);
    expect(report.calls).toBe(cases.length);
    expect(report.failures.map((failure) => `${failure.caseName.slice(0, 200)} -> ${failure.outcomes.join(',')}: ${failure.problem}`)).toEqual([]);
    expect(server.logs.lines.filter((line) => line.includes('HTTP handler failed'))).toEqual([]);
    expect(await httpHealthy(server.vault.httpPort)).toBe(true);
    expect(await client.health()).toBe('SERVING');
  });

  test('when the fuzzing is over, then the server still serves, no database connection is checked out, no gRPC call is left open, and repeating the random round does not grow the heap', async () => {
    expect(reports.length).toBeGreaterThan(0);
    expect(await client.health()).toBe('SERVING');
    expect(client.inFlight).toBe(0);
    await eventually(() => {
      expect(server.vault.pool.totalCount - server.vault.pool.idleCount).toBe(0);
      expect(server.vault.pool.waitingCount).toBe(0);
    });
    await eventually(async () => {
      const calls = await serverCalls(server.vault.grpcPort);
      expect(calls.started).toBeGreaterThan(0);
      expect(calls.started - calls.succeeded - calls.failed).toBe(0);
    });

    // The heap after a forced GC, before and after two more random rounds: a
    // leak of anything per call (a session, a batch, a request) would show.
    const gc = exposeGc();
    const heapAfterGc = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const round = (n: number): FuzzCase[] => fuzzCases(new Prng(SEED + n), caseContext(config, runId, 10 + n), { count: COUNT, targeted: false });
    await run(round(1));
    server.logs.lines.length = 0;
    const before = heapAfterGc();
    const repeated = [...round(2), ...round(3)];
    const report = await run(repeated);
    server.logs.lines.length = 0;
    const after = heapAfterGc();
    const growthMb = (after - before) / 2 ** 20;
    process.stdout.write(`fuzz: heap after GC ${(before / 2 ** 20).toFixed(1)} MiB before ${repeated.length} more calls, ${(after / 2 ** 20).toFixed(1)} MiB after (${growthMb >= 0 ? '+' : ''}${growthMb.toFixed(2)} MiB)\n`);
    expect(failuresOf(report, repeated)).toEqual([]);
    // Client, server and test share this heap; a few MiB of noise is normal, a per-call leak of even 20 KB would exceed this.
    expect(growthMb).toBeLessThan(8);
    await eventually(() => expect(server.vault.pool.totalCount - server.vault.pool.idleCount).toBe(0));

    const total = reports.reduce((sum, each) => sum + each.calls, 0);
    process.stdout.write(`fuzz: ${total} calls in all\n`);
  });
});

/** The server's call counters from grpc-js channelz (the server listening on `port`). */
async function serverCalls(port: number): Promise<{ started: number; succeeded: number; failed: number }> {
  const handlers = getChannelzHandlers();
  type ServerMessage = { data: { calls_started: number; calls_succeeded: number; calls_failed: number }; listen_socket: { name: string }[] };
  const servers = await new Promise<ServerMessage[]>((resolve, reject) => {
    const call = { request: { start_server_id: 0, max_results: 100 } };
    (handlers.GetServers as unknown as (call: unknown, callback: (error: unknown, response?: { server: ServerMessage[] }) => void) => void)(call, (error, response) =>
      error ? reject(error) : resolve(response?.server ?? []),
    );
  });
  const ours = servers.find((entry) => entry.listen_socket.some((socket) => socket.name.endsWith(`:${port}`)));
  if (!ours) throw new Error(`no channelz server listens on port ${port}: ${JSON.stringify(servers.map((entry) => entry.listen_socket))}`);
  return { started: Number(ours.data.calls_started), succeeded: Number(ours.data.calls_succeeded), failed: Number(ours.data.calls_failed) };
}

/** global.gc when node runs with --expose-gc; otherwise exposed at run time (V8's flag, read by a fresh context). */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
