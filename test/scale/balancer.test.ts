/**
 * The scale-out drill (issue 17): three `telemetry-vault serve` processes on
 * one PostgreSQL and one Redis, behind nginx running deploy/nginx/nginx.conf
 * (grpc_pass, per-call balancing, passive health checks, retries). Every
 * client here talks to nginx unless a test is about one instance.
 * Figures go to stdout as `scale figure:` lines (the report quotes them).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { VaultClient, type EventFilter, type Ingester } from '../../clients/node/src';
import { resumedFollow } from '../../src/cli/remote/resumed-follow';
import { QueryEventsRequest, QueryServiceClient } from '../../src/gen/telemetry/v1/query_service';
import { createTenantWithKey } from '../support/ingest-calls';
import { metricValue } from '../support/fault-drill';
import { redisServerUnavailableReason, RestartableRedis } from '../support/redis-server-process';
import { runCliCaptured } from '../support/run-cli-captured';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually } from '../support/test-server';
import { nginxUnavailableReason, startNginx, type NginxBalancer } from './support/nginx-balancer';
import { freePort } from './support/processes';
import { VaultFleet } from './support/vault-fleet';

const skipReason = nginxUnavailableReason() ?? redisServerUnavailableReason();
if (skipReason) console.log(`skipping the balancer drill: ${skipReason}`);
const describeDrill = skipReason ? describe.skip : describe;

/** The limited tenant's events per second (the global limit under test) and burst. */
const LIMIT_EVENTS_PER_SECOND = 200;
const LIMIT_BURST = 100;
/** The issue's window: 16 streams for 30 s. */
const RATE_WINDOW_MS = 30_000;

/** grpc_server_handled_total summed over codes for one method, from an instance's /metrics. */
async function handledCalls(httpPort: number, method: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^grpc_server_handled_total\\{[^}]*grpc_method="${method}"[^}]*\\} ([0-9.eE+-]+)$`, 'gm'))) sum += Number(match[1]);
  return sum;
}

async function storedCount(db: TestDatabase, tenantId: string): Promise<{ rows: number; distinct: number }> {
  const result = await db.pool.query<{ rows: number; distinct: number }>('SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct FROM events WHERE tenant_id = $1', [tenantId]);
  return result.rows[0]!;
}

/** Adds events to `ingester` until stop() is called: as fast as add() lets it, or about `perSecond`. Returns the ids added. */
function produce(ingester: Ingester, prefix: string, perSecond?: number, eventType = 'log'): { ids: string[]; stop: () => Promise<void> } {
  const ids: string[] = [];
  let running = true;
  const done = (async () => {
    const started = Date.now();
    while (running) {
      const eventId = `${prefix}-${ids.length}`;
      ids.push(eventId);
      await ingester.add({ eventId, eventType, serviceName: 'scale-drill', payload: { n: ids.length } });
      if (perSecond !== undefined) {
        const ahead = ids.length / perSecond - (Date.now() - started) / 1000;
        if (ahead > 0.01) await sleep(ahead * 1000);
      }
    }
  })();
  return {
    ids,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** Followers tailing through nginx during the rolling restart. */
const FOLLOWERS = 4;

/** A live tail (StreamEvents follow) that resumes exactly after its instance drains (docs/api.md, "Resuming a follow"). */
interface Follow {
  /** Event ids delivered, in order. */
  readonly ids: string[];
  /** Each lost stream's status and message. */
  readonly losses: string[];
  /** Events a resumed stream sent again, dropped by key. */
  repeatsDropped: number;
  failure: unknown;
  stop(): Promise<void>;
}

function follow(vault: VaultClient, filter: EventFilter): Follow {
  const losses: string[] = [];
  const result: Follow = { ids: [], losses, repeatsDropped: 0, failure: undefined, stop: async () => undefined };
  let sent = 0;
  let stopping = false;
  const events = resumedFollow(
    async function* () {
      if (stopping) throw new Error('stopped');
      for await (const event of vault.events(filter, 'oldest-first', { follow: true })) {
        sent++;
        yield event;
      }
    },
    { onLoss: ({ error }) => losses.push(`${status[(error as ServiceError).code]}: ${(error as ServiceError).details}`) },
  );
  const done = (async () => {
    try {
      for await (const event of events) {
        // Leaving the loop cancels the call.
        if (stopping) break;
        result.ids.push(event.eventId);
        result.repeatsDropped = sent - result.ids.length;
      }
    } catch (error) {
      if (!stopping) result.failure = error;
    }
  })();
  result.stop = async () => {
    stopping = true;
    // A next() is pending on the open stream: one more event lets the loop see `stopping`.
    await probe(vault, filter.eventTypes![0]!);
    await done;
  };
  return result;
}

/** One event that followers of `eventType` in the drill's service receive (ids start with "probe-"). */
async function probe(vault: VaultClient, eventType: string): Promise<void> {
  const ingester = vault.ingester({ lingerMs: 0 });
  await ingester.add({ eventId: `probe-${randomUUID()}`, eventType, serviceName: 'scale-drill', payload: {} });
  await ingester.close();
}

describeDrill('scale-out drill: three instances behind nginx (grpc_pass), one PostgreSQL, one Redis', () => {
  let db: TestDatabase;
  let redis: RestartableRedis;
  let fleet: VaultFleet;
  let nginx: NginxBalancer;
  let limited: { key: string; tenantId: string };
  let bulk: { key: string; tenantId: string; keyId: string; admin: Awaited<ReturnType<typeof createTenantWithKey>>['admin'] };
  const clients: VaultClient[] = [];
  const client = (address: string, apiKey: string): VaultClient => {
    const made = new VaultClient({ address, apiKey });
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    limited = await createTenantWithKey(db.pool, 'limited', { eventsPerSecond: LIMIT_EVENTS_PER_SECOND, eventBurst: LIMIT_BURST, callsPerMinute: 1_000_000 });
    bulk = await createTenantWithKey(db.pool, 'bulk', { eventsPerSecond: 1_000_000, eventBurst: 10_000, callsPerMinute: 1_000_000 });
    redis = new RestartableRedis(await freePort());
    await redis.start();
    fleet = await VaultFleet.start(3, { DATABASE_URL: db.url, REDIS_URL: redis.url, RATE_LIMIT_REDIS_RETRY_INTERVAL: '500ms' });
    nginx = await startNginx(fleet.ports);
  });

  afterAll(async () => {
    for (const made of clients) made.close();
    await nginx?.stop();
    await fleet?.stop();
    await redis?.kill();
    await db?.drop();
  });

  test('one client connection to nginx: its calls are spread over all three instances, call by call', async () => {
    const query = new QueryServiceClient(nginx.address, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('x-api-key', bulk.key);
    const before = await Promise.all(fleet.instances.map((instance) => handledCalls(instance.httpPort, 'QueryEvents')));
    for (let i = 0; i < 30; i++) {
      await new Promise<void>((resolve, reject) => query.queryEvents(QueryEventsRequest.fromPartial({ limit: 1 }), metadata, (error) => (error ? reject(error) : resolve())));
    }
    query.close();
    const after = await Promise.all(fleet.instances.map((instance) => handledCalls(instance.httpPort, 'QueryEvents')));
    const perInstance = after.map((count, index) => count - before[index]!);
    console.log(`scale figure: 30 QueryEvents calls on one connection through nginx were served ${perInstance.join(' / ')} by the three instances`);
    expect(perInstance.reduce((sum, count) => sum + count, 0)).toBe(30);
    for (const count of perInstance) expect(count).toBeGreaterThan(0);
  });

  test('a cursor issued by one instance continues on another, and the two pages join without a gap or a repeat', async () => {
    const seeder = client(nginx.address, bulk.key).ingester();
    for (let i = 0; i < 30; i++) await seeder.add({ eventId: `cursor-${String(i).padStart(2, '0')}`, eventType: 'cursor', serviceName: 'scale-drill', timestamp: new Date(Date.now() - 60_000 + i * 100) });
    await seeder.close();
    const filter = { eventTypes: ['cursor'] };
    const first = (await client(fleet.instances[0]!.address, bulk.key).pages(filter, { order: 'oldest-first', limit: 10 }).next()).value!;
    expect(first.nextCursor).not.toBe('');
    const second = (await client(fleet.instances[1]!.address, bulk.key).pages(filter, { order: 'oldest-first', limit: 10, cursor: first.nextCursor }).next()).value!;
    const third = (await client(fleet.instances[2]!.address, bulk.key).pages(filter, { order: 'oldest-first', limit: 10, cursor: second.nextCursor }).next()).value!;
    const ids = [...first.events, ...second.events, ...third.events].map((event) => event.eventId);
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => `cursor-${String(i).padStart(2, '0')}`));
  });

  test("a key revoked (telemetry-vault key revoke) stops working on all three instances within the contract's 5 s", async () => {
    const { key, keyId } = await bulk.admin.createKey(bulk.tenantId).then((created) => ({ key: created.key, keyId: created.record.id }));
    const direct = fleet.instances.map((instance) => new QueryServiceClient(instance.address, credentials.createInsecure()));
    const metadata = new Metadata();
    metadata.set('x-api-key', key);
    const codeOf = (query: QueryServiceClient): Promise<number> => new Promise((resolve) => query.queryEvents(QueryEventsRequest.fromPartial({ limit: 1 }), metadata, (error: ServiceError | null) => resolve(error ? error.code : status.OK)));
    try {
      // Every instance has the key in its cache.
      expect(await Promise.all(direct.map(codeOf))).toEqual([status.OK, status.OK, status.OK]);
      const revoked = await runCliCaptured(['key', 'revoke', keyId], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
      expect(revoked.code).toBe(0);
      const revokedAt = Date.now();
      const refusedAfterMs: (number | undefined)[] = [undefined, undefined, undefined];
      while (Date.now() - revokedAt < 5000 && refusedAfterMs.includes(undefined)) {
        const codes = await Promise.all(direct.map(codeOf));
        codes.forEach((code, index) => {
          if (code === status.UNAUTHENTICATED) refusedAfterMs[index] ??= Date.now() - revokedAt;
        });
        await sleep(100);
      }
      console.log(`scale figure: revoked key refused by the three instances after ${refusedAfterMs.map((ms) => (ms === undefined ? 'not yet' : `${ms} ms`)).join(' / ')}`);
      await sleep(Math.max(0, revokedAt + 5000 - Date.now()));
      expect(await Promise.all(direct.map(codeOf))).toEqual([status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.UNAUTHENTICATED]);
    } finally {
      for (const query of direct) query.close();
    }
  });

  test(`a tenant limited to ${LIMIT_EVENTS_PER_SECOND} events/s, driven through nginx with 16 streams for 30 s, stores within ±10% of the limit, not three times it`, async () => {
    const ingester = client(nginx.address, limited.key).ingester({ maxConcurrentStreams: 16, maxBatchEvents: 25, streamMaxMs: 500, bufferMaxEvents: 400 });
    const load = produce(ingester, 'rate');
    // Let the streams open and the initial burst (LIMIT_BURST) land before the window starts.
    await eventually(async () => expect((await storedCount(db, limited.tenantId)).rows).toBeGreaterThanOrEqual(LIMIT_BURST), 10_000, 100);
    const start = { at: Date.now(), rows: (await storedCount(db, limited.tenantId)).rows };
    await sleep(RATE_WINDOW_MS);
    const end = { at: Date.now(), rows: (await storedCount(db, limited.tenantId)).rows };
    await load.stop();
    await ingester.close();
    const rate = (end.rows - start.rows) / ((end.at - start.at) / 1000);
    console.log(
      `scale figure: stored ${end.rows - start.rows} events in ${((end.at - start.at) / 1000).toFixed(1)} s through nginx over 3 instances = ${rate.toFixed(1)} events/s against a limit of ${LIMIT_EVENTS_PER_SECOND} (${((rate / LIMIT_EVENTS_PER_SECOND) * 100).toFixed(1)}%); ingester retried ${ingester.counters.retried} streams, failed ${ingester.counters.failed} events`,
    );
    expect(ingester.counters.failed).toBe(0);
    expect(rate).toBeGreaterThanOrEqual(LIMIT_EVENTS_PER_SECOND * 0.9);
    expect(rate).toBeLessThanOrEqual(LIMIT_EVENTS_PER_SECOND * 1.1);
  });

  test('Redis down during the drill: every instance degrades to its own buckets (gauge 1), ingest through nginx never fails, and the shared budget returns with Redis', async () => {
    const ingester = client(nginx.address, bulk.key).ingester({ maxConcurrentStreams: 4, streamMaxMs: 300 });
    const load = produce(ingester, 'redis-down', 300);
    await sleep(500);
    await redis.kill();
    const gauges = (): Promise<(number | undefined)[]> => Promise.all(fleet.instances.map((instance) => metricValue(instance.httpPort, 'telemetry_vault_rate_limit_degraded')));
    await eventually(async () => expect(await gauges()).toEqual([1, 1, 1]), 15_000, 100);
    await sleep(1000);
    await redis.start();
    await eventually(async () => expect(await gauges()).toEqual([0, 0, 0]), 15_000, 100);
    await load.stop();
    await ingester.close();
    const stored = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE tenant_id = $1 AND event_id LIKE 'redis-down-%'", [bulk.tenantId]);
    expect(ingester.counters.failed).toBe(0);
    expect(stored.rows[0]!.n).toBe(load.ids.length);
  });

  test('rolling restart with SIGTERM under 16 ingest streams and 4 followers through nginx: nothing acknowledged is lost or stored twice, every instance drains cleanly, and each follower sees every acknowledged event exactly once', async () => {
    const dropped: string[] = [];
    const followFilter: EventFilter = { serviceNames: ['scale-drill'], eventTypes: ['rolling'], start: new Date(Date.now() - 1000) };
    const followers = Array.from({ length: FOLLOWERS }, () => follow(client(nginx.address, bulk.key), followFilter));
    // Every follower is live (past its stored part) once it has a probe committed after it started.
    await eventually(
      async () => {
        await probe(client(nginx.address, bulk.key), 'rolling');
        for (const follower of followers) expect(follower.ids.some((id) => id.startsWith('probe-'))).toBe(true);
      },
      30_000,
      200,
    );
    const ingester = client(nginx.address, bulk.key).ingester({ maxConcurrentStreams: 16, maxBatchEvents: 50, streamMaxMs: 500, onError: (error) => dropped.push(String(error)) });
    const load = produce(ingester, 'rolling', 1000, 'rolling');
    await sleep(1500);
    const restarts: { code: number | null; drainMs: number }[] = [];
    for (const instance of fleet.instances) {
      restarts.push(await fleet.restart(instance));
      await sleep(1500);
    }
    await sleep(1000);
    await load.stop();
    await ingester.close();
    const { rows, distinct } = await storedCount(db, bulk.tenantId);
    const ours = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE tenant_id = $1 AND event_id LIKE 'rolling-%'", [bulk.tenantId]);
    const { accepted, duplicates, retried, failed } = ingester.counters;
    console.log(
      `scale figure: rolling restart of 3 instances under 16 streams: ${load.ids.length} events added, ${ours.rows[0]!.n} stored, ${accepted} accepted + ${duplicates} duplicates, ${retried} stream retries, ${failed} events and ${dropped.length} streams lost; drains ${restarts.map((restart) => `${restart.drainMs} ms (exit ${restart.code})`).join(', ')}`,
    );
    expect(dropped).toEqual([]);
    expect(failed).toBe(0);
    expect(restarts.map((restart) => restart.code)).toEqual([0, 0, 0]);
    expect(ours.rows[0]!.n).toBe(load.ids.length);
    expect(accepted + duplicates).toBe(load.ids.length);
    expect(rows).toBe(distinct);

    // Followers: each acknowledged event exactly once, whatever instance served them when.
    const acknowledged = new Set(load.ids);
    const seenAll = (follower: Follow): boolean => follower.ids.filter((id) => acknowledged.has(id)).length >= acknowledged.size || follower.failure !== undefined;
    await eventually(() => expect(followers.every(seenAll)).toBe(true), 60_000, 200);
    await Promise.all(followers.map((follower) => follower.stop()));
    console.log(
      `scale figure: ${FOLLOWERS} followers through nginx during the rolling restart: ${followers.map((follower) => `${follower.ids.filter((id) => acknowledged.has(id)).length} events, ${follower.losses.length} resumes, ${follower.repeatsDropped} repeats dropped`).join('; ')} (${acknowledged.size} acknowledged); streams lost with ${[...new Set(followers.flatMap((follower) => follower.losses))].join(' | ')}`,
    );
    for (const follower of followers) {
      expect(follower.failure).toBeUndefined();
      const rolling = follower.ids.filter((id) => id.startsWith('rolling-'));
      expect(rolling.length).toBe(acknowledged.size);
      expect(new Set(rolling)).toEqual(acknowledged);
      // Each follower lost its stream at least once: the drill did restart every instance under it.
      expect(follower.losses.length).toBeGreaterThan(0);
    }
  });

  test("a follow that stays quiet longer than nginx's grpc_read_timeout is not cut: the server sends its headers at once and its keepalive pings keep the stream read", async () => {
    // One instance pinging every second behind an nginx whose read timeout is 3 s (deploy/nginx/nginx.conf: 300 s against GRPC_KEEPALIVE_TIME 60 s).
    const pinging = await VaultFleet.start(1, { DATABASE_URL: db.url, REDIS_URL: redis.url, GRPC_KEEPALIVE_TIME: '1s' });
    const impatient = await startNginx([pinging.ports[0]!, pinging.ports[0]!, pinging.ports[0]!], (conf) => conf.replace(/grpc_read_timeout \d+s;/, 'grpc_read_timeout 3s;'));
    const quietMs = 4500;
    try {
      // queryRetry off: a cut stream surfaces as an error instead of being retried.
      const reader = new VaultClient({ address: impatient.address, apiKey: bulk.key, queryRetry: { maxAttempts: 1 } });
      clients.push(reader);
      const writer = client(impatient.address, bulk.key).ingester({ lingerMs: 0 });
      const received: string[] = [];
      const events = reader.events({ eventTypes: ['quiet'], start: new Date() }, 'oldest-first', { follow: true })[Symbol.asyncIterator]();
      const next = async (): Promise<string> => (await events.next()).value!.eventId;
      // Quiet before the first event, then between two events.
      const first = next();
      await sleep(quietMs);
      await writer.add({ eventId: `quiet-${randomUUID()}`, eventType: 'quiet', serviceName: 'scale-drill' });
      await writer.flush();
      received.push(await first);
      const second = next();
      await sleep(quietMs);
      await writer.add({ eventId: `quiet-${randomUUID()}`, eventType: 'quiet', serviceName: 'scale-drill' });
      await writer.close();
      received.push(await second);
      await events.return?.(undefined);
      expect(received).toHaveLength(2);
      expect(impatient.errorLog()).not.toContain('upstream timed out');
    } finally {
      await impatient.stop();
      await pinging.stop();
    }
  });

  test('after the drill every instance still answers through nginx (StreamEvents, a server stream, passes through it)', async () => {
    const events: string[] = [];
    for await (const event of client(nginx.address, bulk.key).events({ eventTypes: ['cursor'] }, 'oldest-first')) events.push(event.eventId);
    expect(events).toHaveLength(30);
  });
});
