import { status, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import pg from 'pg';
import type { Event } from '../../src/gen/telemetry/v1/event';
import type { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { useRestartableVault } from '../support/restartable-vault';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { captureCall, createTenantWithKey, errorDetails, ingestUnary, makeEvent, type CallResult } from '../support/ingest-calls';

/**
 * Group commit (src/storage/event-writer.ts): batches of concurrent calls
 * share a transaction, and each call's answer stays exactly its own. Rows
 * that share an xmin were committed by one transaction, which is how these
 * tests see the groups.
 */

interface Tenant {
  readonly key: string;
  readonly tenantId: string;
}

/** Stored rows of the tenants, with the call and position each payload names, and the transaction that wrote it. */
async function storedRows(pool: pg.Pool, tenantIds: readonly string[]): Promise<{ tenant_id: string; event_id: string; call: number; pos: number; xid: string }[]> {
  const result = await pool.query(
    `SELECT tenant_id::text, event_id, (payload->>'call')::int AS call, (payload->>'pos')::int AS pos, xmin::text AS xid
     FROM events WHERE tenant_id = ANY($1::uuid[])`,
    [tenantIds],
  );
  return result.rows;
}

/** Holds an uncommitted row of (tenant, event_id): a merge carrying the same pair waits for this transaction. */
async function holdRow(pool: pg.Pool, tenantId: string, eventId: string): Promise<{ rollback: () => Promise<void> }> {
  const client = await pool.connect();
  client.on('error', () => undefined);
  await client.query('BEGIN');
  await client.query(`INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload) VALUES ($1, $2, now(), 'log', 'blocker', '{}')`, [tenantId, eventId]);
  let done = false;
  return {
    rollback: async () => {
      if (done) return;
      done = true;
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    },
  };
}

/** How many of the server's merges wait for a lock. */
async function mergesWaiting(pool: pg.Pool): Promise<number> {
  const result = await pool.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~ 'INSERT INTO events|EXECUTE telemetry_vault_merge'");
  return result.rowCount ?? 0;
}

/** A unary Ingest whose call object is at hand (to cancel it). */
function startUnary(server: TestServer, key: string, events: Event[], deadline?: number): { call: Promise<ClientUnaryCall>; result: Promise<CallResult<IngestResponse>> } {
  let resolveCall: (call: ClientUnaryCall) => void = () => undefined;
  const call = new Promise<ClientUnaryCall>((resolve) => {
    resolveCall = resolve;
  });
  const result = captureCall<IngestResponse, ClientUnaryCall>(
    (callback) => server.ingest.ingest({ events }, withKey(key), deadline === undefined ? {} : { deadline }, callback),
    (started) => resolveCall(started),
  );
  return { call, result };
}

const tagged = (call: number, eventIds: readonly string[]): Event[] => eventIds.map((eventId, pos) => makeEvent({ eventId, payloadJson: JSON.stringify({ call, pos }) }));

describe('group commit', () => {
  let db: TestDatabase;
  let server: TestServer;
  let tenants: Tenant[];

  beforeAll(async () => {
    db = await createTestDatabase();
    // One group at a time, so that calls arriving while one is written form the next group.
    server = await startTestServer(db.url, { INGEST_WRITE_CONCURRENCY: '1', INGEST_GROUP_MAX_EVENTS: '60', AUTH_CACHE_TTL: '5s' });
    tenants = [];
    for (const name of ['group-a', 'group-b', 'group-c']) tenants.push(await createTenantWithKey(db.pool, name));
    // Caches the keys.
    for (const tenant of tenants) expect((await ingestUnary(server.ingest, withKey(tenant.key), { events: [makeEvent()] })).response?.accepted).toBe(1);
  });

  afterAll(async () => {
    await server.stop();
    await db.drop();
  });

  test('when concurrent calls of several tenants share groups, with ids repeated inside calls, across calls and across tenants, then each answer counts exactly its own events and the first arrival of a pair wins', async () => {
    // 36 calls of 10 events, ids drawn from 25 per tenant (the same 25 names in every tenant);
    // every third call repeats an id of its own and carries one invalid event.
    const calls = Array.from({ length: 36 }, (_, index) => {
      const tenant = tenants[index % tenants.length]!;
      const ids = Array.from({ length: 10 }, (_unused, pos) => `gc-${(index * 7 + pos * 3) % 25}`);
      if (index % 3 === 0) ids[9] = ids[0]!;
      const events = tagged(index, ids);
      if (index % 3 === 0) events[5] = makeEvent({ eventId: `bad-${index}`, eventType: 'NOT A TYPE' });
      return { tenant, events };
    });
    // The merges wait (a held row of another pair would not block them: a table lock does) while every call queues.
    const blocker = await db.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE');
    const results = calls.map(({ tenant, events }) => ingestUnary(server.ingest, withKey(tenant.key), { events }));
    await eventually(async () => expect(await mergesWaiting(db.pool)).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the other calls reach the writer's queue
    await blocker.query('COMMIT');
    blocker.release();
    const answers = await Promise.all(results);

    const rows = (await storedRows(db.pool, tenants.map((tenant) => tenant.tenantId))).filter((row) => row.event_id.startsWith('gc-'));
    const winners = new Map(rows.map((row) => [`${row.tenant_id}/${row.event_id}`, row]));
    answers.forEach((answer, index) => {
      expect(answer.error).toBeUndefined();
      const { tenant, events } = calls[index]!;
      const invalid = events.filter((event) => event.eventType === 'NOT A TYPE').length;
      const ownRows = rows.filter((row) => row.call === index);
      expect(answer.response!.rejected).toBe(invalid);
      expect(answer.response!.accepted).toBe(ownRows.length);
      expect(answer.response!.duplicates).toBe(events.length - invalid - ownRows.length);
      // Inside a call, the first of a repeated id is the one stored.
      for (const row of ownRows) expect(events.findIndex((event) => event.eventId === row.event_id)).toBe(row.pos);
      // Every id the call carried is stored, by it or by another call of its tenant.
      for (const event of events) if (event.eventId.startsWith('gc-')) expect(winners.get(`${tenant.tenantId}/${event.eventId}`)).toBeDefined();
    });
    // The sequential reference: each tenant ends with one row per distinct id, and the accepted counts add up to them.
    for (const tenant of tenants) {
      const distinct = new Set(calls.filter((call) => call.tenant === tenant).flatMap((call) => call.events.map((event) => event.eventId).filter((id) => id.startsWith('gc-'))));
      expect(rows.filter((row) => row.tenant_id === tenant.tenantId)).toHaveLength(distinct.size);
      const accepted = answers.filter((_answer, index) => calls[index]!.tenant === tenant).reduce((sum, answer) => sum + answer.response!.accepted, 0);
      expect(accepted).toBe(distinct.size);
    }
    // Groups formed: some transaction holds rows of several calls and several tenants, and none passes INGEST_GROUP_MAX_EVENTS.
    const byTransaction = new Map<string, typeof rows>();
    for (const row of rows) byTransaction.set(row.xid, [...(byTransaction.get(row.xid) ?? []), row]);
    const shared = [...byTransaction.values()].filter((group) => new Set(group.map((row) => row.call)).size > 1 && new Set(group.map((row) => row.tenant_id)).size > 1);
    expect(shared.length).toBeGreaterThan(0);
    for (const group of byTransaction.values()) expect(new Set(group.map((row) => row.call)).size).toBeLessThanOrEqual(6);
  });

  /**
   * A group of two calls, A and B, blocked in its merge: call X holds the
   * writer while A and B queue behind it, and A carries a pair whose row
   * another transaction holds uncommitted.
   */
  async function groupOfTwo(tenant: Tenant, deadlineA?: number) {
    const xId = `hold-x-${process.hrtime.bigint()}`;
    const aId = `hold-a-${process.hrtime.bigint()}`;
    const heldX = await holdRow(db.pool, tenant.tenantId, xId);
    const heldA = await holdRow(db.pool, tenant.tenantId, aId);
    const x = startUnary(server, tenant.key, tagged(200, [xId]));
    await eventually(async () => expect(await mergesWaiting(db.pool)).toBe(1));
    const aEvents = tagged(201, [aId, `a-${xId}-1`, `a-${xId}-2`]);
    const bEvents = tagged(202, [`b-${xId}-1`, `b-${xId}-2`, `b-${xId}-3`, `b-${xId}-4`]);
    const a = startUnary(server, tenant.key, aEvents, deadlineA);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const b = startUnary(server, tenant.key, bEvents);
    await new Promise((resolve) => setTimeout(resolve, 200)); // both wait behind X
    await heldX.rollback();
    expect((await x.result).response?.accepted).toBe(1);
    // Now A and B are written as one group, whose merge waits for the row A carries.
    await eventually(async () => expect(await mergesWaiting(db.pool)).toBe(1));
    return { a, b, aEvents, bEvents, heldA };
  }

  test('when one call of a group is cancelled while the group is being written, then it is answered CANCELLED at once and the other call of the group is stored and acknowledged exactly', async () => {
    const tenant = tenants[0]!;
    const { a, b, aEvents, bEvents, heldA } = await groupOfTwo(tenant);
    (await a.call).cancel();
    const cancelled = await a.result;
    expect(cancelled.error?.code).toBe(status.CANCELLED);
    expect(await mergesWaiting(db.pool)).toBe(1); // the group goes on
    await heldA.rollback();
    const answer = await b.result;
    expect(answer.response).toMatchObject({ accepted: bEvents.length, duplicates: 0, rejected: 0 });
    const rows = await storedRows(db.pool, [tenant.tenantId]);
    const bRows = rows.filter((row) => row.call === 202);
    expect(bRows).toHaveLength(bEvents.length);
    // A's batch went with its group, unacknowledged, in the same transaction: a retry of A counts it as duplicates.
    const aRows = rows.filter((row) => row.call === 201);
    expect(aRows).toHaveLength(aEvents.length);
    expect(new Set([...aRows, ...bRows].map((row) => row.xid)).size).toBe(1);
    const retried = await ingestUnary(server.ingest, withKey(tenant.key), { events: aEvents });
    expect(retried.response).toMatchObject({ accepted: 0, duplicates: aEvents.length });
  });

  test('when one call of a group passes its deadline while the group is being written, then it ends DEADLINE_EXCEEDED and the other call keeps its time and is acknowledged', async () => {
    const tenant = tenants[1]!;
    const { a, b, bEvents, heldA } = await groupOfTwo(tenant, Date.now() + 2500);
    const late = await a.result;
    expect(late.error?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(await mergesWaiting(db.pool)).toBe(1);
    await heldA.rollback();
    expect((await b.result).response).toMatchObject({ accepted: bEvents.length, duplicates: 0 });
  });

  test('when every call of a group is cancelled, then the group is rolled back and its connection freed', async () => {
    const tenant = tenants[2]!;
    const { a, b, aEvents, bEvents, heldA } = await groupOfTwo(tenant);
    (await a.call).cancel();
    (await b.call).cancel();
    expect((await a.result).error?.code).toBe(status.CANCELLED);
    expect((await b.result).error?.code).toBe(status.CANCELLED);
    await eventually(async () => expect(await mergesWaiting(db.pool)).toBe(0));
    await heldA.rollback();
    const ids = new Set((await storedRows(db.pool, [tenant.tenantId])).map((row) => row.event_id));
    for (const event of [...aEvents, ...bEvents]) expect(ids.has(event.eventId)).toBe(false);
    expect((await ingestUnary(server.ingest, withKey(tenant.key), { events: [makeEvent()] })).response?.accepted).toBe(1);
  });

  test('when INGEST_GROUP_LINGER is long, then a lone call on an idle writer is still written at once', async () => {
    // Thirty calls in a row that each waited the 1 s linger (its maximum) for company would outlast this test's 20 s timeout.
    const lingering = await startTestServer(db.url, { INGEST_GROUP_LINGER: '1s' });
    try {
      for (let i = 0; i < 30; i++) expect((await ingestUnary(lingering.ingest, withKey(tenants[0]!.key), { events: [makeEvent()] })).response?.accepted).toBe(1);
    } finally {
      await lingering.stop();
    }
  }, 20_000);
});

describe('group commit when the database restarts mid-group', () => {
  const vault = useRestartableVault('tv-group-restart-', { INGEST_WRITE_CONCURRENCY: '1', AUTH_CACHE_TTL: '5s', DB_POOL_CONNECTION_TIMEOUT: '1s' }, 3);

  test('when the database restarts while a group is being written and calls retry per the contract, then every acknowledged event is stored exactly once and nothing unsent is', async () => {
    const { cluster, server, pool } = vault();
    const tenants: Tenant[] = [];
    for (const name of ['restart-a', 'restart-b', 'restart-c']) tenants.push(await createTenantWithKey(pool, name));
    const sent = new Map<string, Set<string>>();
    const acknowledged = new Map<string, Set<string>>();
    for (const tenant of tenants) {
      const first = makeEvent(); // caches the key
      expect((await ingestUnary(server.ingest, withKey(tenant.key), { events: [first] })).response?.accepted).toBe(1);
      sent.set(tenant.tenantId, new Set([first.eventId]));
      acknowledged.set(tenant.tenantId, new Set([first.eventId]));
    }

    // A group is in flight (its merge waits for a table lock) with more calls queued behind it.
    const blocker = await pool.connect();
    blocker.on('error', () => undefined);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE');

    const failures: Record<string, number> = {};
    const sender = async (index: number): Promise<void> => {
      const tenant = tenants[index % tenants.length]!;
      for (let call = 0; call < 6; call++) {
        const events = Array.from({ length: 20 }, () => makeEvent());
        for (const event of events) sent.get(tenant.tenantId)!.add(event.eventId);
        for (let attempt = 0; ; attempt++) {
          const result = await ingestUnary(server.ingest, withKey(tenant.key), { events }, { deadline: Date.now() + 10_000 });
          if (result.response) {
            expect(result.response.accepted + result.response.duplicates).toBe(events.length);
            for (const event of events) acknowledged.get(tenant.tenantId)!.add(event.eventId);
            break;
          }
          const code = (result.error as ServiceError).code;
          failures[status[code]] = (failures[status[code]] ?? 0) + 1;
          expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(code);
          expect(attempt).toBeLessThan(60);
          await new Promise((resolve) => setTimeout(resolve, errorDetails(result.error!).retryDelayMs ?? 250));
        }
      }
    };
    const senders = Array.from({ length: 8 }, (_, index) => sender(index));
    await eventually(async () => expect(await mergesWaiting(pool)).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await cluster.stop('immediate');
    blocker.release(new Error('the database restarted'));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await cluster.start();
    await Promise.all(senders);

    expect(Object.keys(failures).length).toBeGreaterThan(0); // the restart was felt
    for (const tenant of tenants) {
      const rows = await pool.query<{ event_id: string; copies: number }>('SELECT event_id, count(*)::int AS copies FROM events WHERE tenant_id = $1 GROUP BY event_id', [tenant.tenantId]);
      const stored = new Set(rows.rows.map((row) => row.event_id));
      for (const row of rows.rows) expect(row.copies).toBe(1);
      for (const id of acknowledged.get(tenant.tenantId)!) expect(stored.has(id)).toBe(true);
      for (const id of stored) expect(sent.get(tenant.tenantId)!.has(id)).toBe(true);
      expect(acknowledged.get(tenant.tenantId)!.size).toBe(sent.get(tenant.tenantId)!.size);
    }
  }, 120_000);
});
