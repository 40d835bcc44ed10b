import { Client, credentials, Metadata, ServerInterceptingCall, status, type ServerInterceptor, type ServiceError } from '@grpc/grpc-js';
import { IngestRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { QueryEventsRequest } from '../../src/gen/telemetry/v1/query_service';
import { createTenantWithKey, ingestStream, ingestUnary, makeEvent, metadataValue } from '../support/ingest-calls';
import { commandCalls, redisServerUnavailableReason, startRedisServer, type RedisServerProcess } from '../support/redis-server-process';
import { sendRawGrpcRequest } from '../support/raw-http2-request';
import { metadataWith, queryWith, unknownKey } from '../support/refusal';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, withKey, type TestServer } from '../support/test-server';

/** Bytes that are no valid IngestRequest: field 1 (events) says 100 bytes follow, and 3 do. */
const GARBAGE = Buffer.from([0x0a, 0x64, 0x01, 0x02, 0x03]);

/** A unary call of `path` whose request is `body` as it is (no encoding), with its outcome. */
function rawUnary(client: Client, path: string, body: Buffer, metadata: Metadata): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, body, metadata, (error) => resolve(error ?? undefined));
  });
}

describe('admission runs in interceptors, on the metadata, before any message is decoded', () => {
  let db: TestDatabase;
  let server: TestServer;
  let raw: Client;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // A key cache longer than the test, so that the valid key verified first stays verified while the address is throttled.
    server = await startTestServer(db.url, { AUTH_FAILURES_PER_MINUTE: '60', AUTH_FAILURE_BURST: '3', AUTH_CACHE_TTL: '5s' });
    raw = new Client(server.address, credentials.createInsecure());
    ({ key } = await createTenantWithKey(db.pool, 'admission'));
    expect((await queryWith(server.query, withKey(key))).error).toBeUndefined();
  });

  afterAll(async () => {
    raw.close();
    await server.stop();
    await db.drop();
  });

  test('when calls carry no key and a body that is no valid message, then each is UNAUTHENTICATED and spends the address\'s failure budget', async () => {
    const codes: (status | undefined)[] = [];
    for (let i = 0; i < 5; i++) codes.push((await rawUnary(raw, '/telemetry.v1.IngestService/Ingest', GARBAGE, new Metadata()))?.code);
    // A burst of 3 failures, then the address is throttled before its (missing) key is looked at.
    expect(codes).toEqual([status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.RESOURCE_EXHAUSTED, status.RESOURCE_EXHAUSTED]);
  });

  test('when an admitted unary Ingest carries a body that is no valid message, then it is INVALID_ARGUMENT and reports the events bucket', async () => {
    const result = await new Promise<{ error: ServiceError | undefined; trailers: Metadata }>((resolve) => {
      let trailers = new Metadata();
      const call = raw.makeUnaryRequest('/telemetry.v1.IngestService/Ingest', (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, GARBAGE, withKey(key), (error) => setImmediate(() => resolve({ error: error ?? undefined, trailers })));
      call.on('status', (outcome) => (trailers = outcome.metadata));
    });
    expect(result.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(result.error?.details).toMatch(/not a valid telemetry\.v1\.IngestRequest/);
    expect(result.trailers.get('x-ratelimit-limit')).toEqual(['20000']);
  });
});

describe('a call carrying two different keys', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    ({ key } = await createTenantWithKey(db.pool, 'two-keys'));
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  const withHeaders = (pairs: readonly [string, string][]): Metadata => {
    const metadata = new Metadata();
    for (const [name, value] of pairs) metadata.add(name, value);
    return metadata;
  };

  test.each([
    ['a valid x-api-key and a bogus Bearer token', () => [['x-api-key', key], ['authorization', `Bearer ${unknownKey()}`]]],
    ['a bogus x-api-key and a valid Bearer token', () => [['x-api-key', unknownKey()], ['authorization', `Bearer ${key}`]]],
    ['two x-api-key headers, the valid one first', () => [['x-api-key', key], ['x-api-key', unknownKey()]]],
  ] as [string, () => [string, string][]][])('when it carries %s, then it is UNAUTHENTICATED', async (_name, headers) => {
    const result = await queryWith(server.query, withHeaders(headers()));
    expect(result.error?.code).toBe(status.UNAUTHENTICATED);
  });

  test('when it carries two authorization headers, the valid one first (sent by a client that allows it), then it is UNAUTHENTICATED', async () => {
    const requestId = `two-bearers-${Date.now()}`;
    const request = Buffer.from(QueryEventsRequest.encode(QueryEventsRequest.fromPartial({ limit: 1 })).finish());
    const headers: [string, string][] = [['authorization', `Bearer ${key}`], ['authorization', `Bearer ${unknownKey()}`], ['x-request-id', requestId]];
    await sendRawGrpcRequest(server.address, '/telemetry.v1.QueryService/QueryEvents', headers, request);
    const line = server.logs.records().find((record) => record.requestId === requestId);
    expect(line).toMatchObject({ code: 'UNAUTHENTICATED', msg: 'call failed' });
  });

  test('when it carries the same key twice, or a key and an authorization header of another scheme, then it is admitted', async () => {
    expect((await queryWith(server.query, withHeaders([['x-api-key', key], ['authorization', `Bearer ${key}`]]))).error).toBeUndefined();
    expect((await queryWith(server.query, withHeaders([['x-api-key', key], ['authorization', 'Basic dXNlcjpwYXNz']]))).error).toBeUndefined();
  });
});

const redisSkip = redisServerUnavailableReason();
if (redisSkip) console.warn(`skipping the rate-limit round-trip count: ${redisSkip}`);

(redisSkip ? describe.skip : describe)('rate-limit round trips to a shared (Redis) bucket store', () => {
  let db: TestDatabase;
  let redis: RedisServerProcess;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await startRedisServer();
    server = await startTestServer(db.url, { REDIS_URL: redis.url });
    ({ key } = await createTenantWithKey(db.pool, 'round-trips'));
    // The first take loads the script (EVALSHA answered NOSCRIPT, then EVAL): not what is counted.
    expect((await ingestUnary(server.ingest, withKey(key), IngestRequest.fromPartial({ events: [makeEvent()] }))).error).toBeUndefined();
  });

  afterAll(async () => {
    await server.stop();
    await redis.stop();
    await db.drop();
  });

  /** Script runs (one per round trip) while `call` runs. */
  async function roundTrips(call: () => Promise<unknown>): Promise<number> {
    await redis.client.config('RESETSTAT');
    await call();
    return commandCalls(redis.client, ['evalsha', 'eval']);
  }

  test('when a unary Ingest is made, then its calls token and its events are taken in one round trip', async () => {
    const trips = await roundTrips(async () => {
      const result = await ingestUnary(server.ingest, withKey(key), IngestRequest.fromPartial({ events: [makeEvent(), makeEvent()] }));
      expect(result.error).toBeUndefined();
      expect(metadataValue(result, 'x-ratelimit-limit')).toBe('20000');
    });
    expect(trips).toBe(1);
  });

  test('when a query is made, then it takes one round trip; an IngestStream one at admission and one per message', async () => {
    expect(await roundTrips(async () => expect((await queryWith(server.query, withKey(key))).error).toBeUndefined())).toBe(1);
    const messages = [0, 1, 2].map(() => ({ events: [makeEvent()] }));
    expect(await roundTrips(async () => expect((await ingestStream(server.ingest, withKey(key), messages)).error).toBeUndefined())).toBe(1 + messages.length);
  });

  test('when a call carries an unknown key, then only its address\'s failure budget is touched, in one round trip', async () => {
    expect(await roundTrips(() => queryWith(server.query, metadataWith({ 'x-api-key': unknownKey() })))).toBe(1);
  });
});

describe('an interceptor of the deployment\'s own (VaultOptions.interceptors)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  const seen: string[] = [];

  /** A mesh-style check: calls must name a workload identity (as a sidecar would, from the peer's mTLS certificate). */
  const requireIdentity: ServerInterceptor = (descriptor, call) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const identity = metadata.get('x-workload-identity')[0];
            seen.push(`${descriptor.path} ${String(identity)}`);
            if (identity === 'spiffe://mesh/checkout') nextMetadata(metadata);
            else call.sendStatus({ code: status.PERMISSION_DENIED, details: 'this workload may not call the vault' });
          },
        }),
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, {}, { interceptors: [requireIdentity] });
    ({ key } = await createTenantWithKey(db.pool, 'mesh'));
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  test('when a call is refused by it, then the key is never checked; when it lets a call through, then admission follows', async () => {
    const denied = await queryWith(server.query, metadataWith({ 'x-api-key': key }));
    expect(denied.error?.code).toBe(status.PERMISSION_DENIED);
    expect(denied.trailers.get('x-request-id')).toHaveLength(1);
    const noKey = await queryWith(server.query, metadataWith({ 'x-workload-identity': 'spiffe://mesh/checkout' }));
    expect(noKey.error?.code).toBe(status.UNAUTHENTICATED);
    const admitted = await queryWith(server.query, metadataWith({ 'x-workload-identity': 'spiffe://mesh/checkout', 'x-api-key': key }));
    expect(admitted.error).toBeUndefined();
    expect(seen).toEqual(['/telemetry.v1.QueryService/QueryEvents undefined', '/telemetry.v1.QueryService/QueryEvents spiffe://mesh/checkout', '/telemetry.v1.QueryService/QueryEvents spiffe://mesh/checkout']);
    // The refusal is a call like any other to the observing interceptor: one log line.
    expect(server.logs.records().filter((record) => record.code === 'PERMISSION_DENIED')).toHaveLength(1);
  });
});
