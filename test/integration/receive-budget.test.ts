import http2 from 'node:http2';
import { create, toBinary } from '@bufbuild/protobuf';
import { status, type Metadata } from '@grpc/grpc-js';
import { OTLP_SCHEMAS } from '../../src/transport/otlp/otlp-schemas';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { createTenantWithKey, errorDetails, ingestStream, ingestUnary, makeEvent, type CallResult } from '../support/ingest-calls';
import type { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { scrapeMetrics } from '../support/prometheus-text';

/**
 * GRPC_RECEIVE_BUDGET (src/transport/receive-budget.ts) on a vault with
 * 1 MiB messages and a 4 MiB budget, so a tenant's share is 2 MiB. Slow
 * senders (raw HTTP/2 calls that announce a message and send the start of
 * it) hold the budget deterministically; the held-bytes gauge says when they do.
 */
const MAX_MESSAGE = 1024 * 1024;
const BUDGET = 4 * MAX_MESSAGE;
const HELD_GAUGE = 'telemetry_vault_receive_budget_held_bytes';

/** 14 events of ~60 KB payloads: a message of ~850 KB, under the 1 MiB limit, and more than what is left of a share two slow senders hold. */
const largeBatch = (): Event[] => Array.from({ length: 14 }, () => makeEvent({ payloadJson: JSON.stringify({ blob: 'x'.repeat(60_000) }) }));

/** A raw HTTP/2 Ingest call that announces a message of `announced` bytes, sends 1000 of them, then nothing: it holds its size of the budget. */
function slowSender(address: string, key: string, announced: number): { close(): void } {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': '/telemetry.v1.IngestService/Ingest', 'content-type': 'application/grpc', te: 'trailers', 'x-api-key': key });
  stream.on('error', () => undefined);
  const start = Buffer.alloc(5 + 1000);
  start.writeUInt32BE(announced, 1);
  stream.write(start);
  return { close: () => session.destroy() };
}

async function heldBytes(server: TestServer): Promise<number> {
  return (await scrapeMetrics(server.httpUrl)).single(HELD_GAUGE);
}

async function storedIds(db: TestDatabase, ids: readonly string[]): Promise<number> {
  const result = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE event_id = ANY($1)', [ids]);
  return result.rows[0]!.n;
}

function expectRefused(result: CallResult<IngestResponse>, names: string): void {
  expect(result.error?.code).toBe(status.UNAVAILABLE);
  expect(result.error?.details).toContain('the server is overloaded:');
  expect(result.error?.details).toContain(names);
  expect(errorDetails(result.error!).retryDelayMs).toBe(1000);
}

/** An OTLP/HTTP protobuf body of 10 log records of 25 KB (~250 KB). */
function otlpLogsBody(): Buffer {
  const schema = OTLP_SCHEMAS.logs.request;
  const logRecords = Array.from({ length: 10 }, (_, i) => ({ timeUnixNano: BigInt(Date.now() - 1000) * 1_000_000n + BigInt(i), body: { value: { case: 'stringValue', value: 'y'.repeat(25_000) } } }));
  return Buffer.from(toBinary(schema, create(schema, { resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { value: { case: 'stringValue', value: 'budget' } } }] }, scopeLogs: [{ logRecords }] }] } as never)));
}

describe('GRPC_RECEIVE_BUDGET: request bytes held while messages are received', () => {
  let db: TestDatabase;
  let server: TestServer;
  let tenants: Record<'a' | 'b' | 'c' | 'd', { key: string; tenantId: string }>;
  const held: { close(): void }[] = [];

  const releaseSlowSenders = async (): Promise<void> => {
    for (const sender of held.splice(0)) sender.close();
    await eventually(async () => expect(await heldBytes(server)).toBe(0));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { GRPC_MAX_RECEIVE_MESSAGE_SIZE: '1MiB', GRPC_RECEIVE_BUDGET: '4MiB' });
    const limits = { callsPerMinute: 100_000, eventsPerSecond: 100_000, eventBurst: 100_000 };
    tenants = {
      a: await createTenantWithKey(db.pool, 'budget-a', limits),
      b: await createTenantWithKey(db.pool, 'budget-b', limits),
      c: await createTenantWithKey(db.pool, 'budget-c', limits),
      d: await createTenantWithKey(db.pool, 'budget-d', limits),
    };
  });

  afterEach(async () => {
    await releaseSlowSenders();
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const key = (tenant: keyof typeof tenants): Metadata => withKey(tenants[tenant].key);

  test('when one tenant\'s slow senders hold its share, then its large message is UNAVAILABLE with RetryInfo naming the share, unread and unstored, while its small messages and another tenant\'s large one are served; once they end, its large message is served', async () => {
    held.push(slowSender(server.address, tenants.a.key, 1_000_000), slowSender(server.address, tenants.a.key, 1_000_000));
    await eventually(async () => expect(await heldBytes(server)).toBe(2_000_000));

    const refusedBatch = largeBatch();
    const refused = await ingestUnary(server.ingest, key('a'), { events: refusedBatch });
    expectRefused(refused, `past the ${2 * MAX_MESSAGE} bytes one tenant may hold (half of GRPC_RECEIVE_BUDGET, ${BUDGET})`);
    expect(await storedIds(db, refusedBatch.map((event) => event.eventId))).toBe(0);

    expect((await ingestUnary(server.ingest, key('a'), { events: [makeEvent()] })).response?.accepted).toBe(1);
    expect((await ingestUnary(server.ingest, key('b'), { events: largeBatch() })).response?.accepted).toBe(14);

    await releaseSlowSenders();
    expect((await ingestUnary(server.ingest, key('a'), { events: refusedBatch })).response?.accepted).toBe(14);
  });

  test('when the whole budget is held, then a large message of any tenant is refused naming GRPC_RECEIVE_BUDGET, OTLP/HTTP answers 503 with Retry-After, an IngestStream whose next message does not fit fails with UNAVAILABLE; after, all are served', async () => {
    for (const tenant of ['a', 'a', 'b', 'b'] as const) held.push(slowSender(server.address, tenants[tenant].key, 1_000_000));
    await eventually(async () => expect(await heldBytes(server)).toBe(4_000_000));

    expectRefused(await ingestUnary(server.ingest, key('c'), { events: largeBatch() }), `(GRPC_RECEIVE_BUDGET is ${BUDGET})`);

    const otlp = (): Promise<Response> =>
      fetch(`http://127.0.0.1:${server.vault.otlpHttpPort}/v1/logs`, { method: 'POST', body: otlpLogsBody(), headers: { 'x-api-key': tenants.c.key, 'content-type': 'application/x-protobuf' } });
    const refusedExport = await otlp();
    expect(refusedExport.status).toBe(503);
    expect(refusedExport.headers.get('retry-after')).toBe('1');
    expect(Buffer.from(await refusedExport.arrayBuffer()).toString('latin1')).toContain(`(GRPC_RECEIVE_BUDGET is ${BUDGET})`);

    const stream = await ingestStream(server.ingest, key('c'), [{ events: [makeEvent()] }, { events: largeBatch() }], { deadline: Date.now() + 20_000 });
    expectRefused(stream, `(GRPC_RECEIVE_BUDGET is ${BUDGET})`);

    await releaseSlowSenders();
    expect((await ingestUnary(server.ingest, key('c'), { events: largeBatch() })).response?.accepted).toBe(14);
    expect((await otlp()).status).toBe(200);
    expect((await ingestStream(server.ingest, key('c'), [{ events: [makeEvent()] }, { events: largeBatch() }])).response?.accepted).toBe(15);
  });

  test('when twelve large messages of one tenant arrive at once, then those past its share are refused with UNAVAILABLE and RetryInfo, the rest served, and retried as told every event is stored exactly once; the budget is then empty', async () => {
    const batches = Array.from({ length: 12 }, () => largeBatch());
    let pending = batches;
    let refusals = 0;
    for (let round = 0; pending.length > 0 && round < 30; round++) {
      const results = await Promise.all(pending.map((events) => ingestUnary(server.ingest, key('d'), { events })));
      const next: Event[][] = [];
      results.forEach((result, index) => {
        if (result.response !== undefined) {
          expect(result.response.accepted).toBe(14);
          return;
        }
        expectRefused(result, 'the server is overloaded: ');
        refusals++;
        next.push(pending[index]!);
      });
      pending = next;
      if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect(pending).toEqual([]);
    // The first flight carries the prefixes of more messages than the share holds (each needs many window updates to finish): some were refused.
    expect(refusals).toBeGreaterThan(0);
    process.stdout.write(`twelve ~850 KB messages at once against a 2 MiB share: ${refusals} refusals before all were served\n`);
    expect(await storedIds(db, batches.flat().map((event) => event.eventId))).toBe(12 * 14);
    expect(await heldBytes(server)).toBe(0);
  });
});
