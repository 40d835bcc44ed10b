import net from 'node:net';
import { randomInt } from 'node:crypto';
import { credentials, type Metadata } from '@grpc/grpc-js';
import { QueryServiceClient } from '../../src/gen/telemetry/v1/query_service';
import { AUTH_FAILURE_LIMIT_REASON } from '../../src/domain/auth/auth-failure-limiter';
import { UNAUTHENTICATED_MESSAGE } from '../../src/domain/auth/authenticator';
import { createTenantWithKey, ingestStream, makeEvent } from '../support/ingest-calls';
import { metadataWith, queryWith, refusalOf, unknownKey, type Refusal } from '../support/refusal';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';
import { TEST_REDIS_URL } from '../support/test-redis';

/** 60 per minute = one token a second; a burst of 5. */
const LIMITS = { AUTH_FAILURES_PER_MINUTE: '60', AUTH_FAILURE_BURST: '5' };
const THROTTLED_MESSAGE = 'too many failed authentications from this address (at most 5 in a row, then 60 per minute); retry in 1 s';

/** Whether this machine has an IPv6 loopback, so that one server can see two client addresses (127.0.0.1 and ::1). */
function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The refusal of a QueryEvents call with `metadata`. */
async function query(client: QueryServiceClient, metadata: Metadata): Promise<Refusal> {
  return refusalOf(await queryWith(client, metadata));
}

/** `count` calls with never-issued keys, one after the other; their codes. */
async function guess(client: QueryServiceClient, count: number, headers: Record<string, string> = {}): Promise<string[]> {
  const codes: string[] = [];
  for (let i = 0; i < count; i++) codes.push((await query(client, metadataWith({ ...headers, 'x-api-key': unknownKey() }))).code);
  return codes;
}

/** A refusal without what legitimately differs from one call to the next (the delay, and the status bytes that carry it). */
function comparable(refusal: Refusal): Omit<Refusal, 'retryDelayMs'> {
  const { retryDelayMs: _delay, metadata, ...rest } = refusal;
  const { 'grpc-status-details-bin': _details, ...others } = metadata;
  return { ...rest, metadata: others };
}

describe('the failed-authentication limit per client address', () => {
  let db: TestDatabase;
  let server: TestServer;
  let ipv6: boolean;
  let otherAddress: QueryServiceClient | undefined;
  let acme: { key: string; tenantId: string; keyId: string };
  let spare: { key: string; tenantId: string; keyId: string };
  let revokedKey: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    ipv6 = await ipv6LoopbackAvailable();
    if (!ipv6) console.warn('no IPv6 loopback here: the test of a second client address (::1) is skipped');
    // Dual-stack: clients of 127.0.0.1 and of ::1 are two addresses. A 5 s key cache keeps the in-use key verified throughout.
    server = await startTestServer(db.url, { ...LIMITS, AUTH_CACHE_TTL: '5s', GRPC_HOST: ipv6 ? '[::]' : '127.0.0.1' });
    if (ipv6) otherAddress = new QueryServiceClient(`[::1]:${server.vault.grpcPort}`, credentials.createInsecure());
    acme = await createTenantWithKey(db.pool, 'acme');
    spare = await createTenantWithKey(db.pool, 'spare');
    const revoked = await createTenantWithKey(db.pool, 'revoked');
    await revoked.admin.revokeKey(revoked.keyId);
    revokedKey = revoked.key;
  });

  afterAll(async () => {
    otherAddress?.close();
    await server?.stop();
    await db?.drop();
  });

  test('when an address fails more than its burst, then every call with a key not in use gets RESOURCE_EXHAUSTED with RetryInfo, the same whatever the key, while a key in use keeps working', async () => {
    // acme's key is in use: verified, and cached, before the guessing starts.
    expect((await query(server.query, withKey(acme.key))).code).toBe('OK');
    const throttledBefore = await throttledCount(server);

    expect(await guess(server.query, 5)).toEqual(Array(5).fill('UNAUTHENTICATED'));
    const unknown = await query(server.query, metadataWith({ 'x-api-key': unknownKey() }));
    expect(unknown).toMatchObject({ code: 'RESOURCE_EXHAUSTED', details: THROTTLED_MESSAGE, reason: AUTH_FAILURE_LIMIT_REASON });
    expect(unknown.retryDelayMs).toBeGreaterThan(0);
    expect(unknown.retryDelayMs).toBeLessThanOrEqual(1000);
    expect(unknown.metadata['retry-after']).toEqual(['1']);
    expect(Object.keys(unknown.metadata).filter((key) => key.startsWith('x-ratelimit'))).toEqual([]);

    // A valid key never used here, a revoked one, a malformed one, none at all, a Bearer
    // token: a throttled guesser cannot tell any of them apart.
    const others = {
      'valid, not in use': await query(server.query, withKey(spare.key)),
      revoked: await query(server.query, withKey(revokedKey)),
      malformed: await query(server.query, withKey('tv_short')),
      missing: await query(server.query, metadataWith({})),
      bearer: await query(server.query, metadataWith({ authorization: `Bearer ${unknownKey()}` })),
    };
    for (const refusal of Object.values(others)) expect(comparable(refusal)).toEqual(comparable(unknown));
    const stream = await ingestStream(server.ingest, withKey(unknownKey()), [{ events: [makeEvent()] }]);
    expect(comparable(refusalOf(stream))).toEqual(comparable(unknown));

    // The key in use is not held back.
    expect((await query(server.query, withKey(acme.key))).code).toBe('OK');
    expect((await ingestStream(server.ingest, withKey(acme.key), [{ events: [makeEvent()] }])).response?.accepted).toBe(1);

    expect((await throttledCount(server)) - throttledBefore).toBe(7);
    const lines = server.logs.records().filter((record) => record.code === 'RESOURCE_EXHAUSTED' && record.reason === THROTTLED_MESSAGE);
    expect(lines).toHaveLength(7);
    expect(lines.every((line) => line.clientAddress === '127.0.0.1' && line.tenant === undefined)).toBe(true);
  });

  test('when a throttled address waits the RetryInfo delay, then one more attempt is checked, and the one after is throttled again', async () => {
    await guess(server.query, 6);
    const throttled = await query(server.query, metadataWith({ 'x-api-key': unknownKey() }));
    expect(throttled.code).toBe('RESOURCE_EXHAUSTED');
    await sleep(throttled.retryDelayMs! + 20);
    expect(await query(server.query, metadataWith({ 'x-api-key': unknownKey() }))).toMatchObject({ code: 'UNAUTHENTICATED', details: UNAUTHENTICATED_MESSAGE });
    expect((await query(server.query, metadataWith({ 'x-api-key': unknownKey() }))).code).toBe('RESOURCE_EXHAUSTED');
  });

  test('when one address is throttled, then another address still has its whole budget and its valid keys work', async () => {
    if (!otherAddress) {
      console.warn('skipped: no IPv6 loopback to be a second client address');
      return;
    }
    await guess(server.query, 6);
    expect((await query(server.query, metadataWith({ 'x-api-key': unknownKey() }))).code).toBe('RESOURCE_EXHAUSTED');
    expect((await query(server.query, withKey(spare.key))).code).toBe('RESOURCE_EXHAUSTED');
    expect((await query(otherAddress, withKey(spare.key))).code).toBe('OK');
    expect(await guess(otherAddress, 5)).toEqual(Array(5).fill('UNAUTHENTICATED'));
    expect((await query(otherAddress, metadataWith({ 'x-api-key': unknownKey() }))).code).toBe('RESOURCE_EXHAUSTED');
    const lines = server.logs.records().filter((record) => record.clientAddress === '0:0:0:0::/64');
    expect(lines.length).toBeGreaterThanOrEqual(6);
  });
});

const redisSkipReason = process.env.TV_TEST_REDIS_SKIP;
if (redisSkipReason) console.warn(`Redis auth-failure test skipped: ${redisSkipReason}`);
const describeWithRedis = redisSkipReason ? describe.skip : describe;

describeWithRedis('the failed-authentication limit with REDIS_URL and a trusted proxy header', () => {
  let db: TestDatabase;
  let first: TestServer;
  let second: TestServer;
  // Documentation addresses (TEST-NET-3), fresh for each run, so that no other run shares their buckets in Redis.
  const guesser = `203.0.113.${randomInt(1, 255)}`;
  const neighbour = `198.51.100.${randomInt(1, 255)}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { ...LIMITS, REDIS_URL: TEST_REDIS_URL, AUTH_FAILURE_PEER_HEADER: 'x-forwarded-for' };
    first = await startTestServer(db.url, env);
    second = await startTestServer(db.url, env);
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await db?.drop();
  });

  test('when an address exhausts its budget on one instance, then every instance throttles it; the header counts by its last entry', async () => {
    // A client cannot escape by prepending addresses: the proxy appends the one it saw.
    expect(await guess(first.query, 3, { 'x-forwarded-for': `10.9.8.7, ${guesser}` })).toEqual(Array(3).fill('UNAUTHENTICATED'));
    expect(await guess(second.query, 2, { 'x-forwarded-for': guesser })).toEqual(Array(2).fill('UNAUTHENTICATED'));
    const throttled = await query(second.query, metadataWith({ 'x-forwarded-for': `192.0.2.1,${guesser}`, 'x-api-key': unknownKey() }));
    expect(throttled).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: AUTH_FAILURE_LIMIT_REASON });
    expect((await query(first.query, metadataWith({ 'x-forwarded-for': guesser, 'x-api-key': unknownKey() }))).code).toBe('RESOURCE_EXHAUSTED');
    // Another client behind the same proxy (the same transport peer) is unaffected.
    expect(await guess(first.query, 5, { 'x-forwarded-for': neighbour })).toEqual(Array(5).fill('UNAUTHENTICATED'));
    expect(second.logs.records().some((record) => record.clientAddress === guesser && record.code === 'RESOURCE_EXHAUSTED')).toBe(true);
  });
});

/** telemetry_vault_auth_failures_total{outcome="throttled"} as the server counts it. */
async function throttledCount(server: TestServer): Promise<number> {
  const metric = await server.vault.metrics.authFailures.get();
  return metric.values.find((value) => value.labels.outcome === 'throttled')?.value ?? 0;
}
