import { status, type Metadata } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { SortOrder, StreamEventsRequest, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { LIVE_TAIL_LISTENER_APPLICATION } from '../../src/storage/live-tail-listener';
import { follow, type FollowCall } from '../support/follow-call';
import { createTenantWithKey, ingestUnary, makeEvent } from '../support/ingest-calls';
import { openRawServerStream, type RawServerStream } from '../support/raw-grpc-stream';
import { makeEvents, seedEvents } from '../support/seed-events';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { mulberry32 } from '../support/random-json';

/**
 * A deferred constraint trigger that sleeps at COMMIT for events whose
 * payload asks for it: the test's way to hold a writer transaction open
 * after its rows (and its notice) were made, so that batches commit out of
 * the order they began in. It belongs to this test database only.
 */
const COMMIT_DELAY_TRIGGER = `
CREATE FUNCTION test_commit_delay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep((NEW.payload->>'commit_delay_ms')::int / 1000.0); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER test_commit_delay AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (NEW.payload ? 'commit_delay_ms') EXECUTE FUNCTION test_commit_delay();`;

const ids = (events: readonly { eventId: string }[]): string[] => events.map((event) => event.eventId);
const sorted = (values: readonly string[]): string[] => [...values].sort();


async function ingest(server: TestServer, key: string, events: Event[]): Promise<void> {
  const result = await ingestUnary(server.ingest, withKey(key), { events });
  if (result.error) throw result.error;
  expect(result.response!.accepted).toBe(events.length);
}

/** Every event id of the tenant in the database that `where` selects. */
async function storedIds(db: TestDatabase, tenantId: string, where = 'true'): Promise<string[]> {
  const result = await db.pool.query<{ event_id: string }>(`SELECT event_id FROM events WHERE tenant_id = $1 AND ${where}`, [tenantId]);
  return result.rows.map((row) => row.event_id);
}

/** telemetry_vault_live_tail_followers of a server. */
async function followers(server: TestServer): Promise<number> {
  const metric = server.vault.metrics.registry.getSingleMetric('telemetry_vault_live_tail_followers');
  if (!metric) throw new Error('no telemetry_vault_live_tail_followers metric');
  return (await metric.get()).values[0]?.value ?? 0;
}

describe('StreamEvents with follow', () => {
  let db: TestDatabase;
  let server: TestServer;
  let acme: { key: string; tenantId: string };
  let other: { key: string; tenantId: string };
  const open: FollowCall[] = [];
  const following = (...args: Parameters<typeof follow>): FollowCall => {
    const call = follow(...args);
    open.push(call);
    return call;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(COMMIT_DELAY_TRIGGER);
    server = await startTestServer(db.url, { QUERY_STREAM_CHUNK_SIZE: '50' });
    acme = await createTenantWithKey(db.pool, 'acme');
    other = await createTenantWithKey(db.pool, 'other');
  });

  afterEach(async () => {
    for (const call of open.splice(0)) call.cancel();
    await eventually(async () => expect(await followers(server)).toBe(0));
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when 8 writers commit batches concurrently and out of order, then each of 3 followers (one started mid-run) receives every matching event exactly once', async () => {
    const next = mulberry32(15);
    await seedEvents(db.pool, acme.tenantId, makeEvents(120, 'stored'));
    const all = following(server.query, acme.key);
    const logs = following(server.query, acme.key, { filter: { eventTypes: ['log'] } });
    await all.waitForCount(120);
    let late: FollowCall | undefined;
    const writer = async (w: number): Promise<void> => {
      for (let call = 0; call < 12; call++) {
        if (w === 0 && call === 6) late = following(server.query, acme.key, { filter: { serviceNames: ['payments'] } });
        const size = 1 + Math.floor(next() * 40);
        const delayed = next() < 0.3;
        const nowMs = Date.now();
        const events = Array.from({ length: size }, (_, i) =>
          makeEvent({
            eventId: `w${w}-c${call}-e${i}`,
            // Out of order: anywhere in the last two hours, so later commits often carry older events.
            timestamp: { seconds: Math.floor((nowMs - next() * 7_200_000) / 1000), nanos: Math.floor(next() * 1000) * 1_000_000 },
            eventType: next() < 0.5 ? 'log' : 'metric',
            serviceName: next() < 0.5 ? 'payments' : 'search',
            payloadJson: JSON.stringify(delayed && i === 0 ? { commit_delay_ms: 50 + Math.floor(next() * 400) } : { n: i }),
          }),
        );
        await ingest(server, w % 4 === 3 && call % 3 === 0 ? other.key : acme.key, events);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));

    const expected = {
      all: await storedIds(db, acme.tenantId),
      logs: await storedIds(db, acme.tenantId, "event_type = 'log'"),
      payments: await storedIds(db, acme.tenantId, "service_name = 'payments'"),
    };
    expect(expected.all.length).toBeGreaterThan(600);
    await all.waitForCount(expected.all.length);
    await logs.waitForCount(expected.logs.length);
    await late!.waitForCount(expected.payments.length);
    // Nothing more comes: a repeat would arrive with the rest.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sorted(ids(all.events))).toEqual(sorted(expected.all));
    expect(sorted(ids(logs.events))).toEqual(sorted(expected.logs));
    expect(sorted(ids(late!.events))).toEqual(sorted(expected.payments));
    // The stored part came first, oldest first.
    expect(ids(all.events.slice(0, 120))).toEqual(ids(makeEvents(120, 'stored')));
    expect(all.events.every((event) => !event.eventId.startsWith('x'))).toBe(true);
  });

  test('when follow is set with SORT_ORDER_NEWEST_FIRST, then the call is INVALID_ARGUMENT naming order', async () => {
    const call = following(server.query, acme.key, { order: SortOrder.SORT_ORDER_NEWEST_FIRST });
    const error = await call.ended;
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/order/);
  });

  test('when max_events is set, then it counts stored and new events together, and the call ends OK across the seam', async () => {
    const stored = (await storedIds(db, other.tenantId)).length;
    const call = following(server.query, other.key, { maxEvents: stored + 3 });
    await call.waitForCount(stored);
    await ingest(server, other.key, [makeEvent({ eventId: 'seam-1' }), makeEvent({ eventId: 'seam-2' })]);
    await ingest(server, other.key, [makeEvent({ eventId: 'seam-3' }), makeEvent({ eventId: 'seam-4' })]);
    expect(await call.ended).toBeUndefined();
    expect(call.events).toHaveLength(stored + 3);
    expect(ids(call.events.slice(stored))).toEqual(['seam-1', 'seam-2', 'seam-3']);
  });

  test('when the deadline passes while following, then the call ends with DEADLINE_EXCEEDED and the follower is let go', async () => {
    const call = follow(server.query, other.key, { filter: { eventTypes: ['none'] } }, 1500);
    expect((await call.ended)?.code).toBe(status.DEADLINE_EXCEEDED);
    await eventually(async () => expect((await db.pool.query('SELECT 1 FROM live_tail_followers')).rowCount).toBe(0));
  });

  test('when a follow call has nothing to send, then its response headers still arrive (a balancer waiting for them does not cut a quiet follow)', async () => {
    const call = server.query.streamEvents(StreamEventsRequest.fromPartial({ follow: true, filter: { eventTypes: ['nothing-matches'] } }), withKey(other.key));
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        call.on('metadata', (metadata: Metadata) => resolve(metadata.getMap()));
        call.on('error', reject);
      });
      // Headers, not trailers: a call ending at once (trailers only) would not emit 'metadata' with an empty status.
      expect(headers['grpc-status']).toBeUndefined();
    } finally {
      call.cancel();
    }
  });

  test('when nobody follows, then the writer sends no notice and the registry is empty', async () => {
    await eventually(async () => expect((await db.pool.query('SELECT 1 FROM live_tail_followers')).rowCount).toBe(0));
    const listener = await db.pool.connect();
    try {
      const notices: string[] = [];
      listener.on('notification', (message) => notices.push(message.payload ?? ''));
      await listener.query('LISTEN telemetry_vault_live_tail');
      await ingest(server, acme.key, [makeEvent(), makeEvent()]);
      await listener.query('SELECT 1');
      expect(notices).toEqual([]);
    } finally {
      await listener.query('UNLISTEN *');
      listener.release();
    }
  });

  test("when the server loses its listener's connection, then following calls end with UNAVAILABLE and a new follow works again", async () => {
    const call = following(server.query, acme.key, { filter: { eventTypes: ['none'] } });
    await eventually(async () => expect(await followers(server)).toBe(1));
    await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [LIVE_TAIL_LISTENER_APPLICATION]);
    const error = await call.ended;
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(/missed/);
    const again = following(server.query, acme.key, { filter: { serviceNames: ['again'] } });
    await eventually(async () => expect(await followers(server)).toBe(1));
    await ingest(server, acme.key, [makeEvent({ eventId: 'again-1', serviceName: 'again' })]);
    await again.waitForCount(1);
    expect(ids(again.events)).toEqual(['again-1']);
  });
});

describe('StreamEvents with follow, across instances and for slow clients', () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let tenant: { key: string; tenantId: string };

  beforeAll(async () => {
    db = await createTestDatabase();
    // A ends stalled followers soon; B holds them for long, but with a small buffer.
    a = await startTestServer(db.url, { FOLLOW_SLOW_CONSUMER_TIMEOUT: '2s' });
    b = await startTestServer(db.url, { FOLLOW_BUFFER_MAX_EVENTS: '200', FOLLOW_SLOW_CONSUMER_TIMEOUT: '1h' });
    tenant = await createTenantWithKey(db.pool, 'acme');
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });

  /** A follow call of one service's events that reads nothing until readAll (so the server meets flow control), once it is in place. */
  const stalledFollower = async (server: TestServer, serviceName: string): Promise<RawServerStream> => {
    const request = StreamEventsRequest.encode(StreamEventsRequest.fromPartial({ follow: true, filter: { serviceNames: [serviceName] } })).finish();
    const reader = openRawServerStream(server.address, '/telemetry.v1.QueryService/StreamEvents', request, { 'x-api-key': tenant.key });
    await eventually(async () => expect(await followers(server)).toBe(1));
    return reader;
  };

  test('when a batch is committed through instance A, then a follower on instance B receives it', async () => {
    const call = follow(b.query, tenant.key, { filter: { serviceNames: ['cross'] } });
    try {
      await eventually(async () => expect(await followers(b)).toBe(1));
      await ingest(a, tenant.key, [makeEvent({ eventId: 'via-a-1', serviceName: 'cross' }), makeEvent({ eventId: 'via-a-2', serviceName: 'cross' })]);
      await call.waitForCount(2);
      expect(sorted(ids(call.events))).toEqual(['via-a-1', 'via-a-2']);
    } finally {
      call.cancel();
      await eventually(async () => expect(await followers(b)).toBe(0));
    }
  });

  test('when a follower leaves a message untaken past FOLLOW_SLOW_CONSUMER_TIMEOUT, then the call ends with RESOURCE_EXHAUSTED naming it, though its buffer has room', async () => {
    const reader = await stalledFollower(a, 'stall');
    try {
      // 60 events of 4 KB: more than the 64 KiB HTTP/2 window, far under FOLLOW_BUFFER_MAX_EVENTS (10 000).
      const payload = JSON.stringify({ text: 'y'.repeat(4000) });
      await ingest(b, tenant.key, Array.from({ length: 60 }, (_, i) => makeEvent({ eventId: `stall-${i}`, serviceName: 'stall', payloadJson: payload })));
      await eventually(async () => expect(await followers(a)).toBe(0));
      const { grpcStatus } = await reader.readAll();
      expect(grpcStatus).toBe(String(status.RESOURCE_EXHAUSTED));
      expect(a.logs.text).toMatch(/FOLLOW_SLOW_CONSUMER_TIMEOUT/);
    } finally {
      reader.close();
    }
  });

  test('when a server shuts down, then its follow calls end at once with UNAVAILABLE (not when the grace period is over)', async () => {
    const c = await startTestServer(db.url, { SHUTDOWN_GRACE_PERIOD: '60s' });
    const call = follow(c.query, tenant.key);
    await eventually(async () => expect(await followers(c)).toBe(1));
    await c.stop();
    const error = await call.ended;
    expect(error?.code).toBe(status.UNAVAILABLE);
    expect(error?.details).toMatch(/shutting down: follow again/);
  });

  test('when a follower does not read, then the server holds a bounded buffer and ends the call with RESOURCE_EXHAUSTED naming the limit', async () => {
    const reader = await stalledFollower(b, 'flood');
    try {
      const payload = JSON.stringify({ text: 'x'.repeat(2000) });
      for (let batch = 0; batch < 20 && (await followers(b)) > 0; batch++) {
        await ingest(a, tenant.key, Array.from({ length: 100 }, (_, i) => makeEvent({ eventId: `flood-${batch}-${i}`, serviceName: 'flood', payloadJson: payload })));
      }
      await eventually(async () => expect(await followers(b)).toBe(0));
      const { messages, grpcStatus } = await reader.readAll();
      expect(grpcStatus).toBe(String(status.RESOURCE_EXHAUSTED));
      // What the server held for it: far less than the 2000 events sent (the 64 KiB HTTP/2 window, one queued message, the buffer's bound).
      const received = messages.flatMap((bytes) => StreamEventsResponse.decode(bytes).events);
      expect(received.length).toBeLessThan(2000);
      expect(b.logs.text).toMatch(/FOLLOW_BUFFER_MAX_EVENTS is 200/);
    } finally {
      reader.close();
    }
  });
});
