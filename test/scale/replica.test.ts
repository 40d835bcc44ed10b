/**
 * A real streaming read replica (issue 17): a primary and a standby made
 * with pg_basebackup, replaying the primary's WAL over streaming
 * replication, from the same binaries; the vault (dist/, as users run it)
 * with DATABASE_URL on the primary and DATABASE_READ_URL on the standby.
 * Figures go to stdout as `scale figure:` lines.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials } from '@grpc/grpc-js';
import pg from 'pg';
import pino from 'pino';
import { VaultClient } from '../../clients/node/src';
import { QueryServiceClient } from '../../src/gen/telemetry/v1/query_service';
import { runMigrations } from '../../src/storage/run-migrations';
import { createTenantWithKey } from '../support/ingest-calls';
import { aggregate } from '../support/query-fixtures';
import { ServerProcess } from '../support/server-process';
import { LOCAL_SERVE_ENV } from './support/processes';
import { replicationUnavailableReason, StreamingPair } from './support/streaming-replica';

const skipReason = replicationUnavailableReason();
if (skipReason) console.log(`skipping the read-replica drill: ${skipReason}`);
const describeDrill = skipReason ? describe.skip : describe;

const DATABASE = 'telemetry_vault';

describeDrill('a real streaming read replica behind DATABASE_READ_URL', () => {
  let pair: StreamingPair;
  let primaryPool: pg.Pool;
  let replicaPool: pg.Pool;
  let server: ServerProcess;
  let httpUrl: string;
  let query: QueryServiceClient;
  let ingestClient: VaultClient;
  let tenant: { key: string; tenantId: string };
  let sequence = 0;

  /** Ingests `count` events of `eventType` through the vault and waits for their acknowledgement (stored on the primary). */
  async function ingest(eventType: string, count: number): Promise<void> {
    const ingester = ingestClient.ingester();
    for (let i = 0; i < count; i++) await ingester.add({ eventId: `${eventType}-${sequence++}`, eventType, serviceName: 'replica' });
    await ingester.close();
    expect(ingester.counters.accepted).toBe(count);
  }

  /** Events of `eventType` that a QueryService call through the vault counts. */
  async function visible(eventType: string): Promise<number> {
    const response = await aggregate(query, tenant.key, { filter: { eventTypes: [eventType] } }, 10_000);
    return response.rows.reduce((sum, row) => sum + Number(row.count), 0);
  }

  async function readConnectionsOnReplica(): Promise<number> {
    const result = await replicaPool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'telemetry-vault-read' AND datname = $1", [DATABASE]);
    return result.rows[0]!.n;
  }

  beforeAll(async () => {
    pair = await StreamingPair.start();
    const admin = new pg.Client({ connectionString: pair.primary.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await admin.end();
    await runMigrations(pair.primary.urlFor(DATABASE), pino({ level: 'silent' }));
    primaryPool = new pg.Pool({ connectionString: pair.primary.urlFor(DATABASE), max: 2 });
    replicaPool = new pg.Pool({ connectionString: pair.replica.urlFor(DATABASE), max: 2 });
    primaryPool.on('error', () => undefined);
    replicaPool.on('error', () => undefined);
    tenant = await createTenantWithKey(primaryPool, 'replicated', { eventsPerSecond: 1_000_000, eventBurst: 10_000, callsPerMinute: 1_000_000 });
    server = new ServerProcess({
      ...LOCAL_SERVE_ENV,
      DATABASE_URL: pair.primary.urlFor(DATABASE),
      DATABASE_READ_URL: pair.replica.urlFor(DATABASE),
      // The standby may not have replayed the new key yet: every lookup goes to the primary (auth reads the primary).
      AUTH_CACHE_TTL: '0s',
    });
    const ports = await server.serving();
    httpUrl = `http://127.0.0.1:${ports.httpPort}`;
    query = new QueryServiceClient(`127.0.0.1:${ports.grpcPort}`, credentials.createInsecure());
    ingestClient = new VaultClient({ address: `127.0.0.1:${ports.grpcPort}`, apiKey: tenant.key });
  });

  afterAll(async () => {
    query?.close();
    ingestClient?.close();
    server?.signal('SIGTERM');
    await server?.exited;
    await primaryPool?.end();
    await replicaPool?.end();
    await pair?.stop();
  });

  test('queries are served from the replica: with its replay paused, events acknowledged on the primary stay invisible to QueryService until replay resumes', async () => {
    await ingest('warm-up', 1);
    await replicaPool.query('SELECT pg_wal_replay_pause()');
    try {
      await ingest('paused', 20);
      expect((await primaryPool.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE event_type = 'paused'")).rows[0]!.n).toBe(20);
      expect(await visible('paused')).toBe(0);
      expect(await readConnectionsOnReplica()).toBeGreaterThan(0);
    } finally {
      await replicaPool.query('SELECT pg_wal_replay_resume()');
    }
    const deadline = Date.now() + 10_000;
    while ((await visible('paused')) < 20 && Date.now() < deadline) await sleep(20);
    expect(await visible('paused')).toBe(20);
  });

  test('replica lag seen by queries: each acknowledged batch becomes visible through QueryService once the standby replays it (figures printed)', async () => {
    const lags: number[] = [];
    for (let round = 0; round < 10; round++) {
      const eventType = `lag-${round}`;
      await ingest(eventType, 10);
      const acknowledgedAt = Date.now();
      while ((await visible(eventType)) < 10) {
        if (Date.now() - acknowledgedAt > 10_000) throw new Error(`batch ${round} not visible on the replica after 10 s`);
        await sleep(5);
      }
      lags.push(Date.now() - acknowledgedAt);
    }
    const sorted = [...lags].sort((a, b) => a - b);
    console.log(
      `scale figure: replica lag seen by queries (acknowledgement -> visible through QueryService, polled every 5 ms): median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms over ${lags.length} batches; pg_stat_replication replay_lag ${(await pair.replayLagMs())?.toFixed(1) ?? 'n/a'} ms`,
    );
    expect(lags).toHaveLength(10);
  });

  test('replica down: queries fail over to the primary without an error and the instance stays ready; once it is back, reads return to it', async () => {
    await ingest('before-outage', 5);
    await pair.replica.stop();
    let calls = 0;
    const failures: string[] = [];
    const outageStarted = Date.now();
    while (Date.now() - outageStarted < 3000) {
      calls++;
      await visible('before-outage').then(
        (count) => {
          if (count !== 5) failures.push(`counted ${count}`);
        },
        (error: Error) => failures.push(error.message),
      );
    }
    // Written during the outage, read from the primary: reads are as fresh as the primary.
    await ingest('during-outage', 5);
    expect(await visible('during-outage')).toBe(5);
    const ready = await fetch(`${httpUrl}/readyz`);
    const readiness = (await ready.json()) as { checks: Record<string, boolean> };
    console.log(`scale figure: replica down: ${calls} queries in 3 s, ${failures.length} failed; /readyz ${ready.status} ${JSON.stringify(readiness.checks)}`);
    expect(failures).toEqual([]);
    expect(ready.status).toBe(200);
    expect(readiness.checks).toMatchObject({ database: true, readDatabase: false });

    await pair.replica.start();
    // Back on the replica once its probe answers: a paused replay hides new events again.
    const deadline = Date.now() + 15_000;
    while ((await readConnectionsOnReplica()) === 0 && Date.now() < deadline) {
      await visible('during-outage');
      await sleep(200);
    }
    await replicaPool.query('SELECT pg_wal_replay_pause()');
    try {
      await ingest('after-outage', 5);
      expect(await visible('after-outage')).toBe(0);
    } finally {
      await replicaPool.query('SELECT pg_wal_replay_resume()');
    }
  });
});
