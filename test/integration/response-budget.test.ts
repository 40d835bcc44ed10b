import http2 from 'node:http2';
import { status, type ServiceError } from '@grpc/grpc-js';
import { QueryEventsRequest, StreamEventsRequest } from '../../src/gen/telemetry/v1/query_service';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, withKey, type TestServer } from '../support/test-server';
import { createTenantWithKey, ingestUnary, makeEvent } from '../support/ingest-calls';
import { queryEvents, streamEvents } from '../support/query-fixtures';
import { scrapeMetrics } from '../support/prometheus-text';

/**
 * GRPC_RESPONSE_BUDGET (src/transport/response-budget.ts) on a vault with
 * 512 KiB responses and a 2 MiB budget. Clients that stop reading are raw
 * HTTP/2 calls that never consume what arrives (so HTTP/2 flow control
 * holds the rest of their responses in the server); the held-bytes gauge
 * says when they hold it.
 */
const MAX_RESPONSE = 512 * 1024;
const BUDGET = 2 * 1024 * 1024;
const HELD_GAUGE = 'telemetry_vault_response_budget_held_bytes';
/**
 * 30 KB payloads: a page of 16 is ~480 KB, one response message; 600 of them
 * are ~18 MB, more than the budget and than what a grpc-js client takes in
 * before it stops reading a paused call (it queues 16 messages).
 */
const PAYLOAD = JSON.stringify({ blob: 'z'.repeat(30_000) });
const EVENTS = 600;

/** A raw HTTP/2 call that sends its request and reads nothing: how it ended (`rst` = the code it was reset with). */
interface StalledCall {
  /** Resolves once response headers arrive (the server has started answering). */
  readonly answering: Promise<void>;
  readonly ended: Promise<{ rst: number | undefined; grpcStatus: string | undefined }>;
}

async function heldBytes(server: TestServer): Promise<number> {
  return (await scrapeMetrics(server.httpUrl)).single(HELD_GAUGE);
}

/** The held bytes once they stop changing (the stalled calls have read and written all they will): two readings 300 ms apart agree. */
async function steadyHeldBytes(server: TestServer): Promise<number> {
  let last = await heldBytes(server);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await heldBytes(server);
    if (now === last && now > 0) return now;
    last = now;
  }
}

describe('GRPC_RESPONSE_BUDGET: response bytes held for clients that do not read', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  const sessions: http2.ClientHttp2Session[] = [];

  /** One call on a connection of its own, so that each stalls its own HTTP/2 windows only. */
  const stalledCall = (path: string, body: Uint8Array): StalledCall => {
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => undefined);
    sessions.push(session);
    const framed = Buffer.alloc(5 + body.length);
    framed.writeUInt32BE(body.length, 1);
    framed.set(body, 5);
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'x-api-key': key });
    stream.on('error', () => undefined);
    stream.end(framed);
    stream.pause();
    let grpcStatus: string | undefined;
    stream.on('trailers', (trailers) => (grpcStatus = String(trailers['grpc-status'])));
    return {
      answering: new Promise((resolve) => stream.once('response', () => resolve())),
      ended: new Promise((resolve) => stream.once('close', () => resolve({ rst: stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? undefined : stream.rstCode, grpcStatus }))),
    };
  };

  const page = (): Uint8Array => QueryEventsRequest.encode(QueryEventsRequest.fromPartial({ limit: 16, payloadAsJson: true })).finish();

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { GRPC_MAX_RESPONSE_BYTES: String(MAX_RESPONSE), GRPC_RESPONSE_BUDGET: String(BUDGET) });
    ({ key } = await createTenantWithKey(db.pool, 'response-budget', { callsPerMinute: 100_000, eventsPerSecond: 100_000, eventBurst: 100_000 }));
    for (let i = 0; i < EVENTS; i += 20) {
      const events = Array.from({ length: 20 }, () => makeEvent({ payloadJson: PAYLOAD }));
      expect((await ingestUnary(server.ingest, withKey(key), { events })).response?.accepted).toBe(20);
    }
  });

  afterEach(async () => {
    for (const session of sessions.splice(0)) session.destroy();
    await eventually(async () => expect(await heldBytes(server)).toBe(0));
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when clients that asked for pages stop reading and their answers pass the budget, then the one that has waited longest is reset with ENHANCE_YOUR_CALM, first come first reset, while a client that reads is served', async () => {
    const calls: StalledCall[] = [];
    for (let i = 0; i < 4; i++) {
      const call = stalledCall('/telemetry.v1.QueryService/QueryEvents', page());
      await call.answering;
      await eventually(async () => expect(await heldBytes(server)).toBeGreaterThan((i + 1) * 400_000));
      calls.push(call);
    }
    // Four pages of ~480 KB are held (the fifth would pass 2 MiB); none was reset yet.
    const held = await heldBytes(server);
    expect(held).toBeGreaterThan(4 * 400_000);
    expect(held).toBeLessThanOrEqual(BUDGET);

    // A client that reads: its page passes the budget for a moment, and the stalled call that waited longest goes, not it.
    const served = await queryEvents(server.query, key, { limit: 16 });
    expect(served.events).toHaveLength(16);
    const firstEnd = await calls[0]!.ended;
    expect(firstEnd.rst).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(firstEnd.grpcStatus).toBeUndefined();

    // Two more stalled pages: the fourth fits again, the fifth passes the budget and the next oldest goes.
    const later = [stalledCall('/telemetry.v1.QueryService/QueryEvents', page()), stalledCall('/telemetry.v1.QueryService/QueryEvents', page())];
    await Promise.all(later.map((call) => call.answering));
    expect((await calls[1]!.ended).rst).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // calls[2], calls[3] and the two later ones: four pages held, within the budget.
    await eventually(async () => expect(await heldBytes(server)).toBeGreaterThan(4 * 400_000));
    expect(await heldBytes(server)).toBeLessThanOrEqual(BUDGET);

    await eventually(() => expect(server.logs.records().some((line) => String(line.msg).includes('GRPC_RESPONSE_BUDGET'))).toBe(true));
  });

  test('when StreamEvents clients stop reading, then what their calls read ahead counts too: past the budget the stalest call is reset, its handler stops, and the events it had read go back; a grpc-js client that stops reading sees RESOURCE_EXHAUSTED', async () => {
    const body = StreamEventsRequest.encode(StreamEventsRequest.fromPartial({ payloadAsJson: true })).finish();
    // A grpc-js client that stops reading: its stream is paused once it has a message.
    const paused = server.query.streamEvents(StreamEventsRequest.fromPartial({ payloadAsJson: true }), withKey(key));
    let error: ServiceError | undefined;
    const failed = new Promise<ServiceError>((resolve) => paused.on('error', resolve)).then((e) => (error = e));
    try {
      await new Promise<void>((resolve) =>
        paused.once('data', () => {
          paused.pause();
          resolve();
        }),
      );
      const stalledHeld = await steadyHeldBytes(server);
      // One stalled stream holds the message HTTP/2 could not send and the events read after it: more than a message's worth.
      expect(stalledHeld).toBeGreaterThan(1.5 * MAX_RESPONSE);
      expect(stalledHeld).toBeLessThanOrEqual(BUDGET);

      // Raw calls that read nothing, one after another, each newer than every call before it: past the budget the
      // stalest goes first, so the paused grpc-js call goes once the calls older than it (if it was still taking
      // its first messages when they came) have gone. The budget holds about two such calls.
      const raws: StalledCall[] = [];
      for (let i = 0; i < 8 && error === undefined; i++) {
        const call = stalledCall('/telemetry.v1.QueryService/StreamEvents', body);
        await call.answering;
        raws.push(call);
        await eventually(async () => expect((await heldBytes(server)) > stalledHeld || error !== undefined).toBe(true));
      }
      expect((await failed).code).toBe(status.RESOURCE_EXHAUSTED);
      // Two more: the first raw call, now the stalest (if it was not reset already), is reset.
      for (let i = 0; i < 2; i++) await stalledCall('/telemetry.v1.QueryService/StreamEvents', body).answering;
      expect((await raws[0]!.ended).rst).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      expect(await heldBytes(server)).toBeLessThanOrEqual(BUDGET);
    } finally {
      paused.cancel();
    }

    // The reset streams' handlers stopped with the budget's reason: logged with their calls.
    await eventually(() =>
      expect(server.logs.records().some((line) => String(line.method).endsWith('StreamEvents') && JSON.stringify(line).includes('(GRPC_RESPONSE_BUDGET is 2097152)'))).toBe(true),
    );
    // A reading client still gets every event.
    const chunks = await streamEvents(server.query, key, { payloadAsJson: true });
    expect(chunks.flatMap((chunk) => chunk.events)).toHaveLength(EVENTS);
  }, 120_000);
});
