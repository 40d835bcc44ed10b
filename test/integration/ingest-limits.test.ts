import { randomBytes } from 'node:crypto';
import { Metadata, status } from '@grpc/grpc-js';
import { UNAUTHENTICATED_MESSAGE } from '../../src/domain/auth/authenticator';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { captureCall, createTenantWithKey, errorDetails, ingestStream, ingestUnary, makeEvent, metadataValue, storedEvents, type CallResult } from '../support/ingest-calls';

const events = (count: number) => Array.from({ length: count }, () => makeEvent());
const nowSeconds = (): number => Date.now() / 1000;

function queryAggregate(server: TestServer, metadata: Metadata): Promise<CallResult<unknown>> {
  return captureCall((callback) => server.query.aggregate({ filter: undefined, groupBy: [], bucket: undefined }, metadata, callback));
}

describe('authentication of ingest calls', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let keyId: string;
  let admin: Awaited<ReturnType<typeof createTenantWithKey>>['admin'];

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    ({ key, keyId, admin } = await createTenantWithKey(db.pool, 'auth'));
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  const bearer = (value: string): Metadata => {
    const metadata = new Metadata();
    metadata.set('authorization', value);
    return metadata;
  };

  test.each([
    ['missing', () => new Metadata()],
    ['malformed', () => withKey('tv_short')],
    ['not a bearer token', () => bearer('Basic dXNlcjpwYXNz')],
    ['unknown', () => withKey(`tv_${randomBytes(32).toString('base64url')}`)],
  ])('when the key is %s, then ingest is UNAUTHENTICATED with the one message, without rate-limit metadata, and nothing is stored', async (_name, metadata) => {
    const event = makeEvent();
    const unary = await ingestUnary(server.ingest, metadata(), { events: [event] });
    const stream = await ingestStream(server.ingest, metadata(), [{ events: [event] }]);
    for (const result of [unary, stream]) {
      expect(result.error?.code).toBe(status.UNAUTHENTICATED);
      expect(result.error?.details).toBe(UNAUTHENTICATED_MESSAGE);
      expect(metadataValue(result, 'x-ratelimit-limit')).toBeUndefined();
    }
    const stored = await db.pool.query('SELECT 1 FROM events WHERE event_id = $1', [event.eventId]);
    expect(stored.rowCount).toBe(0);
  });

  test('when the key comes as authorization: Bearer, then ingest works', async () => {
    const result = await ingestUnary(server.ingest, bearer(`Bearer ${key}`), { events: [makeEvent()] });
    expect(result.response?.accepted).toBe(1);
  });

  test('when a key is revoked, then within 5 seconds its calls are UNAUTHENTICATED with the same message', async () => {
    const own = await admin.createKey('auth');
    expect((await ingestUnary(server.ingest, withKey(own.key), { events: [makeEvent()] })).response?.accepted).toBe(1);
    const revokedAt = Date.now();
    await admin.revokeKey(own.record.id);
    await eventually(async () => {
      const result = await ingestUnary(server.ingest, withKey(own.key), { events: [makeEvent()] });
      expect(result.error?.details).toBe(UNAUTHENTICATED_MESSAGE);
    }, 10_000);
    // AUTH_CACHE_TTL (2 s by default, at most 5 s) bounds the delay; the 2 s
    // on top of the contract's 5 s are slack for a loaded test machine.
    expect(Date.now() - revokedAt).toBeLessThan(5000 + 2000);
    // The tenant's other keys are unaffected.
    expect(keyId).not.toBe(own.record.id);
    expect((await ingestUnary(server.ingest, withKey(key), { events: [makeEvent()] })).response?.accepted).toBe(1);
  });

  test('when a key expires, then its calls become UNAUTHENTICATED with the same message', async () => {
    const own = await admin.createKey('auth', 1500);
    await eventually(async () => {
      const result = await ingestUnary(server.ingest, withKey(own.key), { events: [makeEvent()] });
      expect(result.error?.code).toBe(status.UNAUTHENTICATED);
      expect(result.error?.details).toBe(UNAUTHENTICATED_MESSAGE);
    }, 10_000);
  });
});

describe('rate limits with the in-process store', () => {
  let db: TestDatabase;
  let server: TestServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { RATE_LIMIT_STREAM_MAX_WAIT: '1500ms' });
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  test('when an ingest call succeeds, then its metadata describes the events bucket after the take', async () => {
    const { key } = await createTenantWithKey(db.pool, 'meta', { eventsPerSecond: 5, eventBurst: 50 });
    const before = nowSeconds();
    const result = await ingestUnary(server.ingest, withKey(key), { events: events(10) });
    expect(result.response?.accepted).toBe(10);
    expect(metadataValue(result, 'x-ratelimit-limit')).toBe('50');
    expect(metadataValue(result, 'x-ratelimit-remaining')).toBe('40');
    // 10 tokens at 5 per second: full again about 2 s after the take.
    const reset = Number(metadataValue(result, 'x-ratelimit-reset'));
    expect(reset).toBeGreaterThanOrEqual(Math.floor(before + 2));
    expect(reset).toBeLessThanOrEqual(Math.ceil(nowSeconds() + 2) + 1);
  });

  test('when a tenant has no overrides, then the contract defaults apply (burst 20000 events)', async () => {
    const { key } = await createTenantWithKey(db.pool, 'defaults');
    const result = await ingestStream(server.ingest, withKey(key), [{ events: events(3) }]);
    expect(metadataValue(result, 'x-ratelimit-limit')).toBe('20000');
    expect(metadataValue(result, 'x-ratelimit-remaining')).toBe('19997');
  });

  test('when a QueryService call is made, then its metadata describes the calls bucket, also when the call fails', async () => {
    const { key } = await createTenantWithKey(db.pool, 'query-meta', { callsPerMinute: 30 });
    const first = await queryAggregate(server, withKey(key));
    const second = await queryAggregate(server, withKey(key));
    expect(metadataValue(first, 'x-ratelimit-limit')).toBe('30');
    expect(metadataValue(first, 'x-ratelimit-remaining')).toBe('29');
    expect(metadataValue(second, 'x-ratelimit-remaining')).toBe('28');
    expect(Number(metadataValue(second, 'x-ratelimit-reset'))).toBeGreaterThan(Math.floor(nowSeconds()));
  });

  test('when the calls bucket is empty, then calls of both services fail with RESOURCE_EXHAUSTED, retry-after and RetryInfo', async () => {
    const { key } = await createTenantWithKey(db.pool, 'calls', { callsPerMinute: 2, eventBurst: 100 });
    expect((await ingestUnary(server.ingest, withKey(key), { events: events(1) })).response?.accepted).toBe(1);
    expect((await ingestUnary(server.ingest, withKey(key), { events: events(1) })).response?.accepted).toBe(1);
    const event = makeEvent();
    const throttled = await ingestUnary(server.ingest, withKey(key), { events: [event] });
    expect(throttled.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(throttled.error?.details).toMatch(/rate limit exceeded: this tenant may make 2 calls per minute; retry in/);
    // One call token comes back every 30 s.
    const { retryDelayMs } = errorDetails(throttled.error!);
    expect(retryDelayMs).toBeGreaterThan(25_000);
    expect(retryDelayMs).toBeLessThanOrEqual(30_000);
    expect(metadataValue(throttled, 'retry-after')).toBe(String(Math.ceil(retryDelayMs! / 1000)));
    // IngestService reports its events bucket, even on a refusal by the calls bucket.
    expect(metadataValue(throttled, 'x-ratelimit-limit')).toBe('100');
    expect((await db.pool.query('SELECT 1 FROM events WHERE event_id = $1', [event.eventId])).rowCount).toBe(0);
    const query = await queryAggregate(server, withKey(key));
    expect(query.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(metadataValue(query, 'x-ratelimit-limit')).toBe('2');
    expect(metadataValue(query, 'x-ratelimit-remaining')).toBe('0');
  });

  test('when a unary call carries more events than the bucket holds, then it fails at once with RESOURCE_EXHAUSTED and RetryInfo', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'events-unary', { eventsPerSecond: 1, eventBurst: 20 });
    expect((await ingestUnary(server.ingest, withKey(key), { events: events(15) })).response?.accepted).toBe(15);
    const throttled = await ingestUnary(server.ingest, withKey(key), { events: events(10) });
    expect(throttled.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(throttled.error?.details).toContain('1 events per second with a burst of 20');
    // 5 tokens left, 10 needed, 1 per second: about 5 s.
    const { retryDelayMs } = errorDetails(throttled.error!);
    expect(retryDelayMs).toBeGreaterThan(3000);
    expect(retryDelayMs).toBeLessThanOrEqual(5000);
    expect(Number(metadataValue(throttled, 'retry-after'))).toBe(Math.ceil(retryDelayMs! / 1000));
    expect(metadataValue(throttled, 'x-ratelimit-limit')).toBe('20');
    expect(Number(metadataValue(throttled, 'x-ratelimit-remaining'))).toBeLessThan(10);
    expect(await storedEvents(db.pool, tenantId)).toHaveLength(15);
  });

  test('when one message carries more events than the burst, then it fails with INVALID_ARGUMENT naming the burst and takes no tokens', async () => {
    const { key } = await createTenantWithKey(db.pool, 'over-burst', { eventsPerSecond: 1, eventBurst: 20 });
    for (const result of [await ingestUnary(server.ingest, withKey(key), { events: events(21) }), await ingestStream(server.ingest, withKey(key), [{ events: events(21) }])]) {
      expect(result.error?.code).toBe(status.INVALID_ARGUMENT);
      expect(result.error?.details).toContain('at most 20 events');
      expect(errorDetails(result.error!)).toEqual({ retryDelayMs: undefined, badRequestFields: ['events'] });
      expect(metadataValue(result, 'x-ratelimit-remaining')).toBe('20');
    }
  });

  test('when a stream outruns its events bucket, then it is slowed down, not failed, and everything is stored', async () => {
    const { key, tenantId } = await createTenantWithKey(db.pool, 'shaped', { eventsPerSecond: 2, eventBurst: 10 });
    const started = Date.now();
    // 10 pass at once; each further 2 waits about 1 s for tokens (within the 1.5 s stream wait).
    const result = await ingestStream(server.ingest, withKey(key), [{ events: events(10) }, { events: events(2) }, { events: events(2) }]);
    expect(result.error).toBeUndefined();
    expect(result.response).toMatchObject({ accepted: 14, rejected: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(await storedEvents(db.pool, tenantId)).toHaveLength(14);
    expect(server.logs.text).toContain('stream outran its events rate limit: pausing it');
  });

  test('when a stream would have to wait longer than the stream wait, then it fails with RESOURCE_EXHAUSTED and RetryInfo after being slowed', async () => {
    const { key } = await createTenantWithKey(db.pool, 'shaped-out', { eventsPerSecond: 2, eventBurst: 10 });
    const started = Date.now();
    // The second message waits about 1 s; the third needs 5 s of tokens, past the 1.5 s wait.
    const result = await ingestStream(server.ingest, withKey(key), [{ events: events(10) }, { events: events(2) }, { events: events(10) }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(result.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(result.error?.details).toContain('2 events per second with a burst of 10');
    const { retryDelayMs } = errorDetails(result.error!);
    expect(retryDelayMs).toBeGreaterThan(3000);
    expect(metadataValue(result, 'retry-after')).toBe(String(Math.ceil(retryDelayMs! / 1000)));
    expect(metadataValue(result, 'x-ratelimit-limit')).toBe('10');
  });
});

describe('an idle IngestStream, and oversized messages', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { INGEST_STREAM_IDLE_TIMEOUT: '300ms', GRPC_MAX_RECEIVE_MESSAGE_SIZE: '4KiB' });
    ({ key } = await createTenantWithKey(db.pool, 'idle'));
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  test('when an IngestStream sends nothing past INGEST_STREAM_IDLE_TIMEOUT, then it fails with RESOURCE_EXHAUSTED, STREAM_IDLE_TIMEOUT, RetryInfo 0 s and a retry-after of 0 that agrees with it (it said 1)', async () => {
    const result = await captureCall((callback) => server.ingest.ingestStream(withKey(key), callback));
    expect(result.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(result.error?.details).toContain('INGEST_STREAM_IDLE_TIMEOUT');
    expect(errorDetails(result.error!).retryDelayMs).toBe(0);
    expect(metadataValue(result, 'retry-after')).toBe('0');
  });

  test('when a message is refused as larger than GRPC_MAX_RECEIVE_MESSAGE_SIZE, then the call still spent its calls token (taken on the metadata, before any message is read), as documented', async () => {
    const limited = await createTenantWithKey(db.pool, 'oversized', { callsPerMinute: 2 });
    const big = makeEvent({ payloadJson: JSON.stringify({ s: 'x'.repeat(8000) }) });
    for (let i = 0; i < 2; i++) {
      const refused = await ingestUnary(server.ingest, withKey(limited.key), { events: [big] });
      expect(refused.error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused.error?.details).toMatch(/larger than max|4096/);
      expect(errorDetails(refused.error!).retryDelayMs).toBeUndefined();
    }
    const next = await ingestUnary(server.ingest, withKey(limited.key), { events: [makeEvent()] });
    expect(next.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(errorDetails(next.error!).retryDelayMs).toBeGreaterThan(0);
  });
});
