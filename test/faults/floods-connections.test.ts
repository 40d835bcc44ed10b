import http2 from 'node:http2';
import net from 'node:net';
import { connectivityState, status, type Client, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { IngestResponse, IngestServiceClient, IngestStreamRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { StreamEventsRequest } from '../../src/gen/telemetry/v1/query_service';
import { largestEventResponseBytes } from '../../src/config/load-config';
import { createTenantWithKey, makeEvent } from '../support/ingest-calls';
import { openRawServerStream, type RawServerStream } from '../support/raw-grpc-stream';
import { makeEvents, seedEvents } from '../support/seed-events';
import { eventually, withKey } from '../support/test-server';
import {
  busyPoolConnections,
  describeLatencies,
  elapsedMs,
  ingestFresh,
  mib,
  ownClients,
  percentile,
  queryNewest,
  residentBytes,
  retryDelayMs,
  RssSampler,
  scrapeMetric,
  sleep,
  startVaultProcess,
  timedHealthCheck,
  type UnaryOutcome,
  type VaultProcess,
} from './floods-support';

const IDLE_TIMEOUT_MS = 5000;

/**
 * Unary floods in a row. The first two warm the process up (V8's heap sizing,
 * the allocator's arenas, compiled code, the pool's buffers): RSS after one
 * flood is not given back to the system, and the second has been seen to
 * peak up to 31 MB above the first on a shared machine, then level off
 * (peaks 152, 154, 173, 167, 166 MiB over five). A leak is growth that goes
 * on, so the last two floods are judged against the first two.
 */
const FLOOD_ROUNDS = 4;
/** How far a later flood's RSS peak may rise above the first two floods' highest. */
const FLOOD_RSS_GROWTH_MAX = 30 * 1024 * 1024;

/** Finished-call log lines of the vault for a method (by its name's end), with their codes. */
function finishedCalls(vault: VaultProcess, method: string): string[] {
  return vault.server
    .records()
    .filter((record) => (record.msg === 'call finished' || record.msg === 'call failed') && String(record.method).endsWith(method))
    .map((record) => String(record.code));
}

/** How many of `codes` are `code`. */
function countOf(codes: readonly string[], code: string): number {
  return codes.filter((candidate) => candidate === code).length;
}

/** An IngestStream left open: it writes `messages`, then sends nothing and never half-closes. */
interface OpenStream {
  readonly call: ClientWritableStream<IngestStreamRequest>;
  /** When its last message was written. */
  lastWriteAt: number;
  readonly ended: Promise<{ error: ServiceError | undefined; response: IngestResponse | undefined; at: number }>;
}

function openIdleStream(client: IngestServiceClient, key: string, messages: readonly IngestStreamRequest[]): OpenStream {
  let settle: (outcome: { error: ServiceError | undefined; response: IngestResponse | undefined; at: number }) => void = () => undefined;
  const ended = new Promise<{ error: ServiceError | undefined; response: IngestResponse | undefined; at: number }>((resolve) => (settle = resolve));
  const call = client.ingestStream(withKey(key), { deadline: Date.now() + 60_000 }, (error, response) => settle({ error: error ?? undefined, response: response ?? undefined, at: Date.now() }));
  const stream: OpenStream = { call, lastWriteAt: Date.now(), ended };
  for (const message of messages) call.write(message, () => (stream.lastWriteAt = Date.now()));
  return stream;
}

/** Resolves with the time a client's channel first leaves READY (its connection got GOAWAY or dropped). */
function leavesReady(client: Client, timeoutMs: number): Promise<number> {
  const channel = client.getChannel();
  return new Promise((resolve, reject) => {
    const watch = (): void => {
      const state = channel.getConnectivityState(false);
      if (state !== connectivityState.READY) {
        resolve(Date.now());
        return;
      }
      channel.watchConnectivityState(state, Date.now() + timeoutMs, (error) => (error ? reject(error) : watch()));
    };
    watch();
  });
}

const fiveEvents = (): IngestStreamRequest => ({ events: Array.from({ length: 5 }, () => makeEvent()) });

/** The outcome is OK, or one of the retryable refusals docs/api.md defines, with its RetryInfo. */
function isOkOrRetryable(outcome: UnaryOutcome<unknown>): boolean {
  if (outcome.error === undefined) return true;
  const retryable = outcome.error.code === status.UNAVAILABLE || outcome.error.code === status.RESOURCE_EXHAUSTED;
  return retryable && retryDelayMs(outcome.error) !== undefined;
}

/** What one flood of 1000 concurrent unary calls did. */
interface UnaryFlood {
  /** First answers by code ("OK", "UNAVAILABLE with RetryInfo", ...). */
  readonly codes: Map<string, number>;
  /** First answers that were neither OK nor a retryable refusal with RetryInfo. */
  readonly unexpected: string[];
  readonly latencies: number[];
  /** Until every first attempt was answered, and until every call was OK. */
  readonly answeredMs: number;
  readonly doneMs: number;
  readonly retries: number;
  readonly healthDuring: number[];
  readonly healthAfter: number[];
  readonly busyAfter: number;
  readonly waitingAfter: number;
  readonly rssStart: number;
  readonly rssPeak: number;
}

/**
 * 1000 calls at once, alternately an Ingest of 10 fresh events and a
 * QueryEvents, spread over `connections`; health Checks on their own
 * connection meanwhile. Failed calls are then retried as docs/api.md says:
 * whole, after the RetryInfo delay (plus jitter, so that they do not all come
 * back at the same instant), until OK.
 */
async function unaryFlood(vault: VaultProcess, connections: readonly ReturnType<typeof ownClients>[], health: ReturnType<typeof ownClients>, key: string): Promise<UnaryFlood> {
  const metadata = withKey(key);
  const rss = new RssSampler(vault.server.pid, 100);
  const healthDuring: number[] = [];
  let flooding = true;
  const healthLoop = (async () => {
    while (flooding) {
      healthDuring.push(await timedHealthCheck(health.health, 10_000));
      await sleep(50);
    }
  })();
  const plans = Array.from({ length: 1000 }, (_, i) => ({ connection: connections[i % connections.length]!, ingest: i % 2 === 0, events: Array.from({ length: 10 }, () => makeEvent()) }));
  const send = (plan: (typeof plans)[number]): Promise<UnaryOutcome<unknown>> => {
    if (!plan.ingest) return queryNewest(plan.connection.query, metadata, 10);
    const callStarted = process.hrtime.bigint();
    return new Promise((resolve) =>
      plan.connection.ingest.ingest({ events: plan.events }, metadata, { deadline: Date.now() + 30_000 }, (error, response) => resolve({ error: error ?? undefined, response, ms: elapsedMs(callStarted) })),
    );
  };
  const started = process.hrtime.bigint();
  let first: UnaryOutcome<unknown>[];
  try {
    first = await Promise.all(plans.map(send));
  } finally {
    flooding = false;
    await healthLoop;
  }
  const answeredMs = elapsedMs(started);
  const codes = new Map<string, number>();
  const unexpected: string[] = [];
  for (const outcome of first) {
    const name = outcome.error ? `${status[outcome.error.code]}${retryDelayMs(outcome.error) === undefined ? '' : ' with RetryInfo'}` : 'OK';
    codes.set(name, (codes.get(name) ?? 0) + 1);
    if (!isOkOrRetryable(outcome)) unexpected.push(`${status[outcome.error!.code]}: ${outcome.error!.details}`);
  }
  let retries = 0;
  await Promise.all(
    plans.map(async (plan, i) => {
      let outcome = first[i]!;
      while (outcome.error !== undefined && isOkOrRetryable(outcome)) {
        retries++;
        await sleep(retryDelayMs(outcome.error)! * (1 + Math.random()));
        outcome = await send(plan);
      }
      if (outcome.error !== undefined) unexpected.push(`retry: ${status[outcome.error.code]}: ${outcome.error.details}`);
    }),
  );
  const doneMs = elapsedMs(started);
  rss.stop();
  const busyAfter = await eventually(async () => {
    const busy = await busyPoolConnections(vault.httpUrl);
    expect(busy).toBe(0);
    return busy;
  });
  return {
    codes,
    unexpected,
    latencies: first.map((outcome) => outcome.ms),
    answeredMs,
    doneMs,
    retries,
    healthDuring,
    healthAfter: await Promise.all(Array.from({ length: 5 }, () => timedHealthCheck(health.health))),
    busyAfter,
    waitingAfter: await scrapeMetric(vault.httpUrl, 'telemetry_vault_db_pool_connections', '{pool="primary",state="waiting"}'),
    rssStart: rss.samples[0]!,
    rssPeak: rss.maxBytes,
  };
}

describe('floods: many calls, idle streams', () => {
  let vault: VaultProcess;

  beforeAll(async () => {
    vault = await startVaultProcess({ INGEST_STREAM_IDLE_TIMEOUT: `${IDLE_TIMEOUT_MS}ms` });
  });

  afterAll(async () => {
    await vault?.stop();
  });

  test('when 1000 unary calls (Ingest and QueryEvents) arrive at once, four times, then each ends OK or with a retryable code and RetryInfo, none hangs, health answers throughout, the pool comes back, memory levels off after the first two floods, and retrying stores every event once', async () => {
    const tenant = await createTenantWithKey(vault.db.pool, 'thousand', { callsPerMinute: 100_000 });
    const rssBefore = residentBytes(vault.server.pid);
    const connections = Array.from({ length: 4 }, () => ownClients(vault.address));
    const healthClient = ownClients(vault.address);
    try {
      // Connect first, so that the calls meet the server rather than connections being set up.
      await Promise.all([...connections, healthClient].map((client) => timedHealthCheck(client.health)));
      const rounds: UnaryFlood[] = [];
      for (let round = 1; round <= FLOOD_ROUNDS; round++) {
        const flood = await unaryFlood(vault, connections, healthClient, tenant.key);
        rounds.push(flood);
        process.stdout.write(
          [
            `1000 concurrent unary calls (500 Ingest of 10 events, 500 QueryEvents) over 4 connections, round ${round}: all answered in ${flood.answeredMs.toFixed(0)} ms`,
            `  first answers: ${[...flood.codes].map(([code, n]) => `${code} ${n}`).join(', ')}; then ${flood.retries} retries (RetryInfo delay plus jitter) until all were OK, ${flood.doneMs.toFixed(0)} ms in all`,
            `  first-attempt latency: ${describeLatencies(flood.latencies)}`,
            `  health Check during: ${describeLatencies(flood.healthDuring)}; after: ${describeLatencies(flood.healthAfter)}`,
            `  after: ${flood.busyAfter} pool connections busy, ${flood.waitingAfter} calls waiting; server RSS ${mib(flood.rssStart)} at the start, ${mib(flood.rssPeak)} at most`,
            '',
          ].join('\n'),
        );
      }
      const { rows } = await vault.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenant.tenantId]);
      process.stdout.write(`  server RSS before the floods ${mib(rssBefore)}, after all ${mib(residentBytes(vault.server.pid))}\n`);

      for (const flood of rounds) {
        expect(flood.unexpected).toEqual([]);
        expect(flood.codes.get('OK') ?? 0).toBeGreaterThan(0);
        expect(flood.answeredMs).toBeLessThan(30_000);
        expect(flood.healthDuring.length).toBeGreaterThan(0);
        // The event loop takes in 1000 calls at once: a Check may wait behind them, never for seconds on end.
        expect(percentile(flood.healthDuring, 50)).toBeLessThan(500);
        expect(Math.max(...flood.healthDuring)).toBeLessThan(3000);
        expect(Math.max(...flood.healthAfter)).toBeLessThan(200);
        expect(flood.busyAfter).toBe(0);
        expect(flood.waitingAfter).toBe(0);
        expect(flood.rssPeak).toBeLessThan(300 * 1024 * 1024);
      }
      // What the first floods took is reused by the later ones: memory levels off instead of growing flood after flood.
      const warmedPeak = Math.max(rounds[0]!.rssPeak, rounds[1]!.rssPeak);
      for (const flood of rounds.slice(2)) expect(flood.rssPeak).toBeLessThan(warmedPeak + FLOOD_RSS_GROWTH_MAX);
      // Every event of the 4 x 500 Ingest calls, once, however many attempts it took.
      expect(Number(rows[0]!.n)).toBe(FLOOD_ROUNDS * 500 * 10);
    } finally {
      for (const client of [...connections, healthClient]) client.close();
    }
  });

  test(`when 200 streams sit idle (150 IngestStreams that stopped sending, 50 StreamEvents whose client reads nothing) and an IngestStream never sends, then they hold no database connection, other calls are answered, and each IngestStream ends after INGEST_STREAM_IDLE_TIMEOUT with RESOURCE_EXHAUSTED and RetryInfo`, async () => {
    const writer = await createTenantWithKey(vault.db.pool, 'idle-writer');
    const reader = await createTenantWithKey(vault.db.pool, 'idle-reader');
    await seedEvents(vault.db.pool, reader.tenantId, makeEvents(5000, 'seed'));
    const ingestBefore = finishedCalls(vault, 'IngestService/IngestStream').length;
    const rowsReadBefore = await scrapeMetric(vault.httpUrl, 'telemetry_vault_query_stream_rows_read_total');
    const rss = new RssSampler(vault.server.pid);
    const clients = ownClients(vault.address);
    const others = ownClients(vault.address);
    const rawStreams: RawServerStream[] = [];
    try {
      // Opened a few at a time: 200 first reads and flushes at once would saturate the pool of 10 and
      // its line of 50 (and rightly get UNAVAILABLE); this test is about what they hold once idle.
      const request = StreamEventsRequest.encode(StreamEventsRequest.fromPartial({})).finish();
      for (let i = 0; i < 50; i++) {
        rawStreams.push(openRawServerStream(vault.address, '/telemetry.v1.QueryService/StreamEvents', request, { 'x-api-key': reader.key }));
        if (i % 10 === 9) await sleep(100);
      }
      // Every StreamEvents has read what its client's flow-control window lets through, and waits.
      await eventually(async () => expect(await scrapeMetric(vault.httpUrl, 'telemetry_vault_query_streams_waiting_for_client')).toBe(50), IDLE_TIMEOUT_MS / 2);
      const rowsReadAhead = (await scrapeMetric(vault.httpUrl, 'telemetry_vault_query_stream_rows_read_total')) - rowsReadBefore;
      const idle: OpenStream[] = [];
      for (let i = 0; i < 150; i++) {
        idle.push(openIdleStream(clients.ingest, writer.key, [fiveEvents(), fiveEvents()]));
        if (i % 10 === 9) await sleep(100);
      }
      const silent = openIdleStream(clients.ingest, writer.key, []);

      // Every IngestStream's batch is flushed (committed, not acknowledged), and no connection is held any more.
      await eventually(async () => expect(Number((await vault.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [writer.tenantId])).rows[0]!.n)).toBe(150 * 10), IDLE_TIMEOUT_MS / 2);
      await eventually(async () => expect(await busyPoolConnections(vault.httpUrl)).toBe(0), IDLE_TIMEOUT_MS / 2);
      expect(finishedCalls(vault, 'QueryService/StreamEvents')).toEqual([]);
      const otherCalls: number[] = [];
      for (let i = 0; i < 10; i++) {
        const ingest = await ingestFresh(others.ingest, withKey(reader.key), 5);
        const query = await queryNewest(others.query, withKey(reader.key), 10);
        expect([ingest.error, query.error]).toEqual([undefined, undefined]);
        otherCalls.push(ingest.ms, query.ms);
      }
      const healthMs = await timedHealthCheck(others.health);
      expect(finishedCalls(vault, 'IngestService/IngestStream').length - ingestBefore).toBe(0);

      const outcomes = await Promise.all([...idle, silent].map((stream) => stream.ended));
      const idleForMs = [...idle, silent].map((stream, i) => outcomes[i]!.at - stream.lastWriteAt);
      const { rows } = await vault.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [writer.tenantId]);
      await eventually(() => expect(countOf(finishedCalls(vault, 'IngestService/IngestStream').slice(ingestBefore), 'RESOURCE_EXHAUSTED')).toBe(151));
      const stillStreaming = finishedCalls(vault, 'QueryService/StreamEvents').length;

      for (const stream of rawStreams) stream.cancel();
      await eventually(() => expect(countOf(finishedCalls(vault, 'QueryService/StreamEvents'), 'CANCELLED')).toBe(50));
      const busyAtEnd = await busyPoolConnections(vault.httpUrl);
      rss.stop();

      process.stdout.write(
        [
          `200 idle streams (150 IngestStreams after 2 messages, 50 unread StreamEvents) and 1 silent IngestStream, INGEST_STREAM_IDLE_TIMEOUT ${IDLE_TIMEOUT_MS} ms:`,
          `  meanwhile: 0 pool connections busy; the 50 StreamEvents read ${rowsReadAhead / 50} events each (of 5000) and wait for their clients; server RSS at most ${mib(rss.maxBytes)};`,
          `  other tenant's Ingest/QueryEvents ${describeLatencies(otherCalls)}; health ${healthMs.toFixed(1)} ms`,
          `  IngestStreams ended after ${Math.min(...idleForMs)}..${Math.max(...idleForMs)} ms of silence: ${outcomes.filter((o) => o.error?.code === status.RESOURCE_EXHAUSTED).length} RESOURCE_EXHAUSTED; their ${rows[0]!.n} flushed events stay stored, unacknowledged`,
          `  StreamEvents still open then: ${50 - stillStreaming}; after the clients cancelled: every handler finished (CANCELLED), ${busyAtEnd} pool connections busy`,
          '',
        ].join('\n'),
      );

      for (const outcome of outcomes) {
        expect(outcome.response).toBeUndefined();
        expect(outcome.error?.code).toBe(status.RESOURCE_EXHAUSTED);
        expect(outcome.error?.details).toContain('INGEST_STREAM_IDLE_TIMEOUT');
        expect(retryDelayMs(outcome.error!)).toBe(0);
      }
      for (const ms of idleForMs) {
        expect(ms).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 100);
        expect(ms).toBeLessThan(IDLE_TIMEOUT_MS + 3000);
      }
      // Flushed after INGEST_FLUSH_INTERVAL, committed, and never acknowledged: the client sends them again.
      expect(Number(rows[0]!.n)).toBe(150 * 10);
      expect(stillStreaming).toBe(0);
      // The first read (as many of the largest events as one 4 MiB message carries, 15), one chunk (QUERY_STREAM_CHUNK_SIZE,
      // 500) written and at most one more read: not the 16 chunks grpc-js would queue.
      const firstRead = Math.floor((4 * 1024 * 1024) / largestEventResponseBytes(64 * 1024));
      expect(rowsReadAhead).toBeLessThanOrEqual(50 * (firstRead + 2 * 500));
      expect(percentile(otherCalls, 100)).toBeLessThan(1000);
      expect(busyAtEnd).toBe(0);
    } finally {
      rss.stop();
      for (const stream of rawStreams) stream.close();
      clients.close();
      others.close();
    }
  });
});

/** A TCP proxy that can freeze: both directions stop, as when the network between a client and the server fails. */
class FreezableProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private frozen = false;

  private constructor(server: net.Server) {
    this.server = server;
  }

  static async start(target: string): Promise<{ proxy: FreezableProxy; address: string }> {
    const [host, port] = target.split(':');
    const proxy = new FreezableProxy(
      net.createServer((client) => {
        const upstream = net.connect(Number(port), host);
        for (const [from, to] of [
          [client, upstream],
          [upstream, client],
        ] as const) {
          proxy.sockets.add(from);
          from.on('data', (chunk: Buffer) => {
            if (!proxy.frozen) to.write(chunk);
          });
          from.on('error', () => undefined);
          from.on('close', () => to.destroy());
        }
      }),
    );
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return { proxy, address: `127.0.0.1:${(proxy.server.address() as net.AddressInfo).port}` };
  }

  /** From now on nothing goes through, in either direction, and nothing is closed. */
  freeze(): void {
    this.frozen = true;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

describe('floods: connection limits', () => {
  let vault: VaultProcess;

  beforeAll(async () => {
    vault = await startVaultProcess({
      GRPC_MAX_CONCURRENT_STREAMS: '8',
      GRPC_MAX_CONNECTION_IDLE: '1s',
      GRPC_MAX_CONNECTION_AGE: '2s',
      GRPC_MAX_CONNECTION_AGE_GRACE: '2s',
    });
  });

  afterAll(async () => {
    await vault?.stop();
  });

  test('when a client opens more streams on one connection than GRPC_MAX_CONCURRENT_STREAMS before it knows the limit, then the excess is refused with REFUSED_STREAM; a client that knows the limit waits for a free slot', async () => {
    // A raw HTTP/2 client sends all its HEADERS in its first flight, before the server's SETTINGS reach it.
    const session = http2.connect(`http://${vault.address}`);
    session.on('error', () => undefined);
    const watchFrame = Buffer.alloc(5);
    const streams = Array.from({ length: 12 }, () => {
      const stream = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      stream.end(watchFrame);
      return new Promise<'served' | 'refused' | string>((resolve) => {
        stream.on('response', () => resolve('served'));
        stream.on('close', () => resolve(stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? 'refused' : `closed ${stream.rstCode}`));
      });
    });
    const raw = await Promise.all(streams);
    session.destroy();

    // grpc-js knows the limit once connected: the ninth to twelfth Watch wait for a slot, then run.
    const clients = ownClients(vault.address);
    try {
      await timedHealthCheck(clients.health);
      const firstMessageAt: (number | undefined)[] = Array.from({ length: 12 }, () => undefined);
      const watches = Array.from({ length: 12 }, (_, i) => {
        const watch = clients.health.watch({ service: '' });
        watch.on('data', () => (firstMessageAt[i] ??= Date.now()));
        watch.on('error', () => undefined);
        return watch;
      });
      await sleep(1000);
      const runningFirst = firstMessageAt.filter((at) => at !== undefined).length;
      const cancelledAt = Date.now();
      for (const watch of watches.slice(0, 4)) watch.cancel();
      await eventually(() => expect(firstMessageAt.every((at) => at !== undefined)).toBe(true), 5000);
      const waited = firstMessageAt.slice(8).map((at) => at! - cancelledAt);
      for (const watch of watches) watch.cancel();

      process.stdout.write(
        `GRPC_MAX_CONCURRENT_STREAMS=8: a raw client's 12 streams in its first flight: ${countOf(raw, 'served')} served, ${countOf(raw, 'refused')} refused with REFUSED_STREAM; grpc-js: ${runningFirst} of 12 Watch streams ran, the other 4 started ${Math.max(...waited)} ms at most after 4 were cancelled\n`,
      );
      expect(countOf(raw, 'served')).toBe(8);
      expect(countOf(raw, 'refused')).toBe(4);
      expect(runningFirst).toBe(8);
      expect(Math.max(...waited)).toBeLessThan(2000);
    } finally {
      clients.close();
    }
  });

  test('when a connection has had no call for GRPC_MAX_CONNECTION_IDLE, then the server closes it with GOAWAY (NO_ERROR)', async () => {
    const session = http2.connect(`http://${vault.address}`);
    session.on('error', () => undefined);
    const connectedAt = await new Promise<number>((resolve) => session.once('connect', () => resolve(Date.now())));
    const goaway = await new Promise<{ code: number; afterMs: number }>((resolve) => session.once('goaway', (code) => resolve({ code, afterMs: Date.now() - connectedAt })));
    session.destroy();
    process.stdout.write(`GRPC_MAX_CONNECTION_IDLE=1s: an idle connection got GOAWAY after ${goaway.afterMs} ms\n`);
    expect(goaway.code).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(goaway.afterMs).toBeGreaterThanOrEqual(900);
    // grpc-js checks idleness on a timer of that period: a connection goes between one and two periods after its last call.
    expect(goaway.afterMs).toBeLessThan(2700);
  });

  test('when a connection reaches GRPC_MAX_CONNECTION_AGE, then it gets GOAWAY, a call in flight still finishes within the grace, new calls go to a new connection, and a call still running after the grace is cut off', async () => {
    const tenant = await createTenantWithKey(vault.db.pool, 'aging');
    const metadata = withKey(tenant.key);
    const clients = ownClients(vault.address);
    const session = http2.connect(`http://${vault.address}`);
    session.on('error', () => undefined);
    const connected = new Promise<number>((resolve) => session.once('connect', () => resolve(Date.now())));
    try {
      await timedHealthCheck(clients.health);
      const connectedAt = await connected;
      // A Watch keeps the raw connection busy, so that only its age can close it.
      const watch = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Watch', 'content-type': 'application/grpc', te: 'trailers' });
      watch.on('error', () => undefined);
      watch.resume();
      watch.end(Buffer.alloc(5));
      const goaway = new Promise<{ code: number; afterMs: number }>((resolve) => session.once('goaway', (code) => resolve({ code, afterMs: Date.now() - connectedAt })));
      const closed = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now() - connectedAt)));

      const finishing = openIdleStream(clients.ingest, tenant.key, [fiveEvents()]);
      const lingering = openIdleStream(clients.ingest, tenant.key, [fiveEvents()]);
      const unary: UnaryOutcome<unknown>[] = [];
      const unaryLoop = (async () => {
        for (let i = 0; i < 24; i++) {
          unary.push(await ingestFresh(clients.ingest, metadata, 5));
          await sleep(200);
        }
      })();
      // The stream's own connection (grpc-js's) gets its GOAWAY; the stream goes on within the grace.
      const clientGoawayAt = await leavesReady(clients.ingest, 10_000);
      await sleep(300);
      finishing.call.write(fiveEvents());
      finishing.call.end();
      const finished = await finishing.ended;
      const finishedAfterGoawayMs = finished.at - clientGoawayAt;
      const cut = await lingering.ended;
      await unaryLoop;
      const { code, afterMs } = await goaway;
      const closedAfterMs = await closed;
      const cutLog = await eventually(() => {
        const codes = finishedCalls(vault, 'IngestService/IngestStream');
        expect(codes).toContain('CANCELLED');
        return codes;
      });

      process.stdout.write(
        [
          `GRPC_MAX_CONNECTION_AGE=2s, GRACE=2s: GOAWAY after ${afterMs} ms, connection closed after ${closedAfterMs} ms;`,
          `  a stream that finished ${finishedAfterGoawayMs} ms after its connection's GOAWAY: ${finished.error ? status[finished.error.code] : `OK, ${finished.response!.accepted} accepted`}; one still open after the grace: ${cut.error ? status[cut.error.code] : 'OK'} (server: ${cutLog.join(', ')});`,
          `  ${unary.filter((outcome) => outcome.error === undefined).length} of ${unary.length} unary calls OK across the reconnection`,
          '',
        ].join('\n'),
      );
      expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
      // 2 s with grpc-js's +/-10% jitter.
      expect(afterMs).toBeGreaterThanOrEqual(1700);
      expect(afterMs).toBeLessThan(3500);
      expect(closedAfterMs - afterMs).toBeGreaterThanOrEqual(1900);
      expect(finishedAfterGoawayMs).toBeGreaterThan(0);
      expect(finished.error).toBeUndefined();
      expect(finished.response!.accepted).toBe(10);
      expect(cut.error?.code).toBe(status.UNAVAILABLE);
      expect(unary.map((outcome) => outcome.error?.code ?? status.OK)).toEqual(unary.map(() => status.OK));
      // The cut stream's message was flushed and committed before the cut: stored, never acknowledged.
      const { rows } = await vault.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenant.tenantId]);
      expect(Number(rows[0]!.n)).toBe(10 + 5 + unary.length * 5);
    } finally {
      session.destroy();
      clients.close();
    }
  });
});

describe('floods: dead peers', () => {
  let vault: VaultProcess;

  beforeAll(async () => {
    vault = await startVaultProcess({ GRPC_KEEPALIVE_TIME: '1s', GRPC_KEEPALIVE_TIMEOUT: '1s' });
  });

  afterAll(async () => {
    await vault?.stop();
  });

  test('when the network to a client goes silent mid-stream, then keepalive closes the connection within GRPC_KEEPALIVE_TIME + GRPC_KEEPALIVE_TIMEOUT, and the call is cancelled and its resources freed', async () => {
    const tenant = await createTenantWithKey(vault.db.pool, 'vanishing');
    const { proxy, address } = await FreezableProxy.start(vault.address);
    const clients = ownClients(address);
    try {
      const stream = openIdleStream(clients.ingest, tenant.key, [fiveEvents()]);
      // Past INGEST_FLUSH_INTERVAL, so that the message's events are committed.
      await sleep(500);
      proxy.freeze();
      const frozenAt = Date.now();
      const codes = await eventually(() => {
        const found = finishedCalls(vault, 'IngestService/IngestStream');
        expect(found).toEqual(['CANCELLED']);
        return found;
      }, 10_000);
      const endedAfterMs = Date.now() - frozenAt;
      const busy = await busyPoolConnections(vault.httpUrl);
      const { rows } = await vault.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE tenant_id = $1', [tenant.tenantId]);
      proxy.close();
      await stream.ended;

      process.stdout.write(`GRPC_KEEPALIVE_TIME=1s, TIMEOUT=1s: a stream whose network froze ended on the server (${codes.join(', ')}) ${endedAfterMs} ms after the freeze; ${busy} pool connections busy; its ${rows[0]!.n} flushed events stay stored\n`);
      expect(endedAfterMs).toBeLessThan(4000);
      expect(busy).toBe(0);
      expect(Number(rows[0]!.n)).toBe(5);
    } finally {
      proxy.close();
      clients.close();
    }
  });
});
