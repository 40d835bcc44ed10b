import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { Metadata, status } from '@grpc/grpc-js';
import pino from 'pino';
import { Redis } from 'ioredis';
import { RedisTokenBucketStore } from '../../src/storage/redis-token-bucket-store';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { createTenantWithKey, ingestUnary, makeEvent, metadataValue } from '../support/ingest-calls';
import { TEST_REDIS_URL } from '../support/test-redis';

const skipReason = process.env.TV_TEST_REDIS_SKIP;
if (skipReason) console.warn(`Redis rate-limit tests skipped: ${skipReason}`);
const describeWithRedis = skipReason ? describe.skip : describe;

const events = (count: number) => Array.from({ length: count }, () => makeEvent());

describeWithRedis('the Redis token bucket store', () => {
  let store: RedisTokenBucketStore;
  let redis: Redis;

  beforeAll(async () => {
    store = new RedisTokenBucketStore(TEST_REDIS_URL, { commandTimeoutMs: 2000, connectTimeoutMs: 2000, logger: pino({ level: 'silent' }) });
    expect(await store.waitUntilConnected(5000)).toBe(true);
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    await store.close();
    redis.disconnect();
  });

  test('when tokens are taken, then the bucket counts down, refuses what it does not hold without taking it, and says when to retry', async () => {
    const key = `tv:test:${randomUUID()}`;
    const spec = { capacity: 10, refillPerSecond: 1 };
    expect(await store.take(key, spec, 4)).toMatchObject({ allowed: true, remaining: 6, retryAfterMs: 0 });
    const refused = await store.take(key, spec, 9);
    expect(refused.allowed).toBe(false);
    expect(refused.remaining).toBeGreaterThanOrEqual(6);
    expect(refused.retryAfterMs).toBeGreaterThan(1000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(3000);
    const peek = await store.take(key, spec, 0);
    expect(peek.allowed).toBe(true);
    expect(peek.remaining).toBe(refused.remaining);
    // Full again 4 s after the first take at 1 token per second.
    expect(peek.resetAtMs).toBeGreaterThan(Date.now() + 2000);
    expect(peek.resetAtMs).toBeLessThanOrEqual(Date.now() + 4000 + 1000);
  });

  test('when a bucket is used, then its key expires once it would be full again, and a full bucket leaves no key', async () => {
    const key = `tv:test:${randomUUID()}`;
    await store.take(key, { capacity: 100, refillPerSecond: 50 }, 10);
    const ttl = await redis.pttl(key);
    // 10 tokens at 50 per second refill in 200 ms; the key lives a second longer.
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1200);
    const untouched = `tv:test:${randomUUID()}`;
    expect(await store.take(untouched, { capacity: 5, refillPerSecond: 1 }, 0)).toMatchObject({ allowed: true, remaining: 5 });
    expect(await redis.exists(untouched)).toBe(0);
  });
});

describeWithRedis('two server instances sharing Redis', () => {
  let db: TestDatabase;
  let first: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    first = await startTestServer(db.url, { REDIS_URL: TEST_REDIS_URL });
    second = await startTestServer(db.url, { REDIS_URL: TEST_REDIS_URL });
  });

  afterAll(async () => {
    await first.stop();
    await second.stop();
    await db.drop();
  });

  test('when one tenant calls both instances, then they draw on one events budget', async () => {
    const { key } = await createTenantWithKey(db.pool, 'shared', { eventsPerSecond: 1, eventBurst: 30 });
    const onFirst = await ingestUnary(first.ingest, withKey(key), { events: events(20) });
    expect(onFirst.response?.accepted).toBe(20);
    expect(metadataValue(onFirst, 'x-ratelimit-remaining')).toBe('10');
    const onSecond = await ingestUnary(second.ingest, withKey(key), { events: events(20) });
    expect(onSecond.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(Number(metadataValue(onSecond, 'x-ratelimit-remaining'))).toBeLessThan(20);
    const fits = await ingestUnary(second.ingest, withKey(key), { events: events(5) });
    expect(fits.response?.accepted).toBe(5);
    expect(Number(metadataValue(fits, 'x-ratelimit-remaining'))).toBeLessThan(10);
  });

  test('when one tenant calls both instances, then they draw on one calls budget', async () => {
    const { key } = await createTenantWithKey(db.pool, 'shared-calls', { callsPerMinute: 3 });
    for (const server of [first, second, first]) expect((await ingestUnary(server.ingest, withKey(key), { events: events(1) })).response?.accepted).toBe(1);
    const fourth = await ingestUnary(second.ingest, withKey(key), { events: events(1) });
    expect(fourth.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(fourth.error?.details).toContain('3 calls per minute');
  });
});

/** A TCP proxy to Redis that the test can cut and restore, to play a Redis outage without touching the shared Redis. */
class CuttableProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(Number(this.target.port || 6379), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describeWithRedis('rate limits while Redis goes away and comes back', () => {
  let db: TestDatabase;
  let server: TestServer;
  let proxy: CuttableProxy;

  beforeAll(async () => {
    db = await createTestDatabase();
    proxy = new CuttableProxy(new URL(TEST_REDIS_URL));
    await proxy.open();
    server = await startTestServer(db.url, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, RATE_LIMIT_REDIS_RETRY_INTERVAL: '200ms' });
  });

  afterAll(async () => {
    await server.stop();
    await proxy.cut().catch(() => undefined);
    await db.drop();
  });

  test('when Redis becomes unreachable, then calls go on under per-instance limits with a warning, and shared limits resume when it is back', async () => {
    const { key } = await createTenantWithKey(db.pool, 'failover', { eventsPerSecond: 1, eventBurst: 10 });
    expect((await ingestUnary(server.ingest, withKey(key), { events: events(8) })).response?.accepted).toBe(8);

    await proxy.cut();
    // In-process buckets start full: the outage neither fails calls nor lifts the limit.
    const during = await ingestUnary(server.ingest, withKey(key), { events: events(8) });
    expect(during.response?.accepted).toBe(8);
    expect(metadataValue(during, 'x-ratelimit-remaining')).toBe('2');
    expect((await ingestUnary(server.ingest, withKey(key), { events: events(8) })).error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(server.logs.text).toContain('rate-limit store (Redis) unavailable');
    expect(await metricValue(server, 'telemetry_vault_rate_limit_degraded')).toBe(1);

    await proxy.open();
    // Back on Redis, where this tenant's bucket still holds about 2 tokens.
    await eventually(async () => {
      const after = await ingestUnary(server.ingest, withKey(key), { events: events(1) });
      expect(after.response?.accepted).toBe(1);
      expect(server.logs.text).toContain('rate-limit store (Redis) answers again');
    }, 20_000, 250);
    expect(await metricValue(server, 'telemetry_vault_rate_limit_degraded')).toBe(0);
  });
});

describe('rate limits when REDIS_URL points at no Redis', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    const closed = await closedPort();
    server = await startTestServer(db.url, { REDIS_URL: `redis://127.0.0.1:${closed}`, RATE_LIMIT_REDIS_TIMEOUT: '100ms' });
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  test('when the server starts, then it serves with per-instance limits and says so', async () => {
    const { key } = await createTenantWithKey(db.pool, 'no-redis', { callsPerMinute: 2 });
    const metadata: Metadata = withKey(key);
    expect((await ingestUnary(server.ingest, metadata, { events: events(3) })).response?.accepted).toBe(3);
    expect((await ingestUnary(server.ingest, metadata, { events: events(3) })).response?.accepted).toBe(3);
    expect((await ingestUnary(server.ingest, metadata, { events: events(3) })).error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(server.logs.text).toContain('Redis does not answer yet');
    expect(await metricValue(server, 'telemetry_vault_rate_limit_degraded')).toBe(1);
    expect(await metricValue(server, 'telemetry_vault_rate_limit_local_takes_total')).toBeGreaterThanOrEqual(3);
  });
});

async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function metricValue(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}
