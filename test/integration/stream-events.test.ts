import { status, type ServiceError } from '@grpc/grpc-js';
import type pg from 'pg';
import { SortOrder, StreamEventsRequest, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { largestEventResponseBytes } from '../../src/config/load-config';
import { createTenantWithKey, failureOf, sortReference, streamEvents, walkAllPages } from '../support/query-fixtures';
import { openRawServerStream, type RawServerStream } from '../support/raw-grpc-stream';
import { makeEvents, seedEvents } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';

const CHUNK = 50;
/** The first read: as many of the largest events (64 KiB payloads read as Structs) as one 4 MiB message carries. */
const FIRST_READ = Math.floor((4 * 1024 * 1024) / largestEventResponseBytes(64 * 1024));
const COUNT = 10_000;
const events = makeEvents(COUNT);
const ids = (list: readonly { eventId: string }[]): string[] => list.map((event) => event.eventId);

describe('StreamEvents', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { QUERY_STREAM_CHUNK_SIZE: String(CHUNK) });
    const tenant = await createTenantWithKey(db.pool, 'acme');
    key = tenant.key;
    await seedEvents(db.pool, tenant.tenantId, events);
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const metric = async (name: string): Promise<number> => {
    const found = server.vault.metrics.registry.getSingleMetric(name);
    if (!found) throw new Error(`no metric ${name}`);
    return (await found.get()).values[0]?.value ?? 0;
  };
  const rowsRead = (): Promise<number> => metric('telemetry_vault_query_stream_rows_read_total');
  const waiting = (): Promise<number> => metric('telemetry_vault_query_streams_waiting_for_client');
  const poolIsIdle = (): void => {
    const { readPool } = server.vault;
    expect(readPool.idleCount).toBe(readPool.totalCount);
    expect(readPool.waitingCount).toBe(0);
  };

  /** A StreamEvents call whose messages are not read until readAll (so the server meets flow control). */
  const slowReader = (request: Partial<StreamEventsRequest> = {}): RawServerStream =>
    openRawServerStream(server.address, '/telemetry.v1.QueryService/StreamEvents', StreamEventsRequest.encode(StreamEventsRequest.fromPartial(request)).finish(), { 'x-api-key': key });
  const streamLogged = (code: string) => server.logs.records().some((record) => record.method === 'telemetry.v1.QueryService/StreamEvents' && record.code === code);

  test.each([
    ['newest first', SortOrder.SORT_ORDER_UNSPECIFIED, {}],
    ['oldest first', SortOrder.SORT_ORDER_OLDEST_FIRST, {}],
    ['oldest first with a filter', SortOrder.SORT_ORDER_OLDEST_FIRST, { eventTypes: ['log', 'trace'], payloadContains: { meta: { region: 'us' } } }],
  ])('when streaming %s, then the events are those of paging, in order, in chunks of at most the chunk size', async (_name, order, filter) => {
    const messages = await streamEvents(server.query, key, { order, filter });
    const paged = await walkAllPages(server.query, key, { order, filter, limit: 1000 });
    expect(paged.length).toBeGreaterThan(CHUNK * 3);
    expect(ids(messages.flatMap((message) => message.events))).toEqual(ids(paged));
    expect(messages.every((message) => message.events.length > 0 && message.events.length <= CHUNK)).toBe(true);
    expect(paged[0]!.payload).toBeDefined();
  });

  test('when max_events is set, then exactly that many of the first events come, in chunks: the first read sized for the largest events, then chunks of the chunk size', async () => {
    const messages = await streamEvents(server.query, key, { maxEvents: 123, order: SortOrder.SORT_ORDER_OLDEST_FIRST });
    expect(FIRST_READ).toBe(15);
    expect(messages.map((message) => message.events.length)).toEqual([FIRST_READ, 50, 50, 123 - FIRST_READ - 100]);
    expect(ids(messages.flatMap((message) => message.events))).toEqual(ids(sortReference(events, 'oldest-first')).slice(0, 123));
  });

  test('when payload_as_json is set, then each event carries the JSON text', async () => {
    const messages = await streamEvents(server.query, key, { maxEvents: 3, payloadAsJson: true });
    const [first] = messages[0]!.events;
    expect(first!.payload).toBeUndefined();
    expect(JSON.parse(first!.payloadJson!)).toEqual(sortReference(events)[0]!.payload);
  });

  test('when nothing matches, then the stream ends at once with no message', async () => {
    expect(await streamEvents(server.query, key, { filter: { eventTypes: ['nope'] } })).toEqual([]);
  });

  test('when max_events is negative, then the call is INVALID_ARGUMENT', async () => {
    const error = await failureOf(streamEvents(server.query, key, { maxEvents: -1 }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
  });

  test('when the client does not read, then the server stops reading the database after a bounded number of chunks, and goes on when it reads', async () => {
    const before = await rowsRead();
    const reader = slowReader();
    try {
      // The server is parked on flow control (it awaits the client, holding no connection).
      await eventually(async () => expect(await waiting()).toBe(1), 30_000);
      // The chunk read ahead (while the last one was being sent) finishes and gives its connection back.
      await eventually(poolIsIdle);
      const readAhead = (await rowsRead()) - before;
      // What the 64 KiB HTTP/2 window holds, one queued message (STREAM_WRITE_AHEAD_MESSAGES) and one chunk read ahead, far from the 10 000 events.
      expect(readAhead).toBeLessThanOrEqual(40 * CHUNK);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await rowsRead()) - before).toBe(readAhead);

      const { messages, grpcStatus } = await reader.readAll();
      expect(grpcStatus).toBe('0');
      const streamed = messages.flatMap((bytes) => StreamEventsResponse.decode(bytes).events);
      expect(ids(streamed)).toEqual(ids(sortReference(events)));
      expect((await rowsRead()) - before).toBe(COUNT);
      expect(await waiting()).toBe(0);
    } finally {
      reader.close();
    }
  });

  test('when the client cancels while the server waits on flow control, then the stream stops reading and holds no connection', async () => {
    const before = await rowsRead();
    const reader = slowReader();
    try {
      await eventually(async () => expect(await waiting()).toBe(1), 30_000);
      await eventually(poolIsIdle);
      const readBeforeCancel = (await rowsRead()) - before;
      reader.cancel();
      await eventually(() => expect(streamLogged('CANCELLED')).toBe(true));
      expect(await waiting()).toBe(0);
      // The server's own background reads (health probes) may hold a read connection for a moment: the stream must not.
      await eventually(poolIsIdle);
      expect((await rowsRead()) - before).toBe(readBeforeCancel);
    } finally {
      reader.close();
    }
  });

  test('when the client cancels while a chunk query runs, then its connection is given back at once, before the query could finish', async () => {
    // A lock held by another session keeps the chunk query waiting as long as we like.
    const locker: pg.PoolClient = await db.pool.connect();
    const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const blockedQueries = async (): Promise<number> =>
      (await db.pool.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM events%' AND pid <> $1", [lockerPid])).rowCount ?? 0;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      const call = server.query.streamEvents(StreamEventsRequest.fromPartial({}), withKey(key));
      const ended = new Promise<ServiceError | undefined>((resolve) => {
        call.on('error', resolve);
        call.on('end', () => resolve(undefined));
      });
      await eventually(async () => expect(await blockedQueries()).toBe(1), 30_000);
      expect(server.vault.readPool.totalCount - server.vault.readPool.idleCount).toBe(1);
      call.cancel();
      expect((await ended)?.code).toBe(status.CANCELLED);
      // The lock is still held: the pool slot came back because the server let go, not because the query ended.
      await eventually(poolIsIdle);
      // And PostgreSQL drops the abandoned query (client_connection_check_interval).
      await eventually(async () => expect(await blockedQueries()).toBe(0), 30_000);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    expect((await streamEvents(server.query, key, { maxEvents: 2 })).flatMap((message) => message.events)).toHaveLength(2);
  });
});
