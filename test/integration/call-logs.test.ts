import { randomBytes, randomUUID } from 'node:crypto';
import { Metadata, status, type ClientReadableStream, type ClientUnaryCall, type ClientWritableStream } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import type { IngestStreamRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { AggregateRequest, GroupBy, QueryEventsRequest, StreamEventsRequest, type AggregateResponse, type QueryEventsResponse, type StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { captureCall, createTenantWithKey, ingestStream, ingestUnary, makeEvent, metadataValue, type CallResult } from '../support/ingest-calls';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, startTestServer, type TestServer } from '../support/test-server';

const INGEST = 'telemetry.v1.IngestService';
const QUERY = 'telemetry.v1.QueryService';
const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/;
/** In every payload this file sends: it must never reach a log line. */
const MARKER = `payload-marker-${randomBytes(8).toString('hex')}`;
/** Well-formed keys that were never issued (so that they are looked up). */
const UNKNOWN_KEYS = [`tv_${randomBytes(32).toString('base64url').slice(0, 43)}`, `tv_${randomBytes(32).toString('base64url').slice(0, 43)}`];
/** Malformed keys (refused before any lookup). */
const MALFORMED_KEYS = [`tv_short-${randomBytes(6).toString('hex')}`, `not-a-key-${randomBytes(6).toString('hex')}`];

interface Headers {
  readonly key?: string;
  readonly bearer?: string;
  readonly requestId?: string;
  readonly traceparent?: string;
}

function metadataOf(headers: Headers): Metadata {
  const metadata = new Metadata();
  if (headers.key !== undefined) metadata.set('x-api-key', headers.key);
  if (headers.bearer !== undefined) metadata.set('authorization', `Bearer ${headers.bearer}`);
  if (headers.requestId !== undefined) metadata.set('x-request-id', headers.requestId);
  if (headers.traceparent !== undefined) metadata.set('traceparent', headers.traceparent);
  return metadata;
}

function codeOf(result: CallResult<unknown>): string {
  return status[result.error?.code ?? status.OK];
}

/** Events whose payloads (Struct and JSON text) carry the marker. */
function markedEvents(count: number): Event[] {
  return Array.from({ length: count }, (_, i) =>
    i % 2 === 0 ? makeEvent({ payloadJson: JSON.stringify({ secret: MARKER, i }) }) : makeEvent({ payloadJson: undefined, payload: { secret: MARKER, nested: { again: MARKER } } }),
  );
}

describe('call logs', () => {
  let db: TestDatabase;
  let server: TestServer;
  let acme: { key: string; tenantId: string; keyId: string };
  let other: { key: string; tenantId: string; keyId: string };
  let limited: { key: string; tenantId: string; keyId: string };

  beforeAll(async () => {
    db = await createTestDatabase();
    // A small payload limit, so that an oversized marked payload is one of the rejections.
    server = await startTestServer(db.url, { INGEST_MAX_PAYLOAD_BYTES: '1024' });
    acme = await createTenantWithKey(db.pool, 'acme');
    other = await createTenantWithKey(db.pool, 'other');
    limited = await createTenantWithKey(db.pool, 'limited', { eventsPerSecond: 1, eventBurst: 5 });
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  const unary = {
    queryEvents: (headers: Headers, request: Parameters<typeof QueryEventsRequest.fromPartial>[0]) =>
      captureCall<QueryEventsResponse, ClientUnaryCall>((callback) => server.query.queryEvents(QueryEventsRequest.fromPartial(request), metadataOf(headers), callback)),
    aggregate: (headers: Headers, request: Parameters<typeof AggregateRequest.fromPartial>[0]) =>
      captureCall<AggregateResponse, ClientUnaryCall>((callback) => server.query.aggregate(AggregateRequest.fromPartial(request), metadataOf(headers), callback)),
  };

  /** A StreamEvents call read to its end, as a CallResult (the response is every message). */
  function streamEvents(headers: Headers, request: Parameters<typeof StreamEventsRequest.fromPartial>[0]): Promise<CallResult<StreamEventsResponse[]>> {
    return new Promise((resolve) => {
      const messages: StreamEventsResponse[] = [];
      let headersSeen = new Metadata();
      const call: ClientReadableStream<StreamEventsResponse> = server.query.streamEvents(StreamEventsRequest.fromPartial(request), metadataOf(headers));
      let error: CallResult<unknown>['error'];
      call.on('metadata', (metadata: Metadata) => (headersSeen = metadata));
      call.on('data', (message: StreamEventsResponse) => messages.push(message));
      call.on('error', (failure: NonNullable<CallResult<unknown>['error']>) => (error = failure));
      call.on('status', (done: { metadata: Metadata }) => setImmediate(() => resolve({ response: error ? undefined : messages, error, headers: headersSeen, trailers: done.metadata })));
    });
  }

  /** The lines that end a call (call finished / call failed) with this request id. */
  const callLines = (requestId: string) => server.logs.records().filter((record) => record.requestId === requestId && (record.msg === 'call finished' || record.msg === 'call failed'));

  /** The one line that ended the call with this request id (waits for it; fails on none or more than one). */
  async function oneCallLine(requestId: string): Promise<Record<string, unknown>> {
    const [line] = await eventually(() => {
      const lines = callLines(requestId);
      expect(lines).toHaveLength(1);
      return lines;
    });
    // A second line for the same call would show up at once: the call is over.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(callLines(requestId)).toHaveLength(1);
    return line!;
  }

  test('when a call of each RPC finishes, then exactly one line reports it with the tenant, method, request id, code and duration', async () => {
    const rid = () => `rid-${randomUUID()}`;
    const calls: [string, string, () => Promise<CallResult<unknown>>][] = [];
    const ids = [rid(), rid(), rid(), rid(), rid()] as const;
    calls.push([ids[0], `${INGEST}/Ingest`, () => ingestUnary(server.ingest, metadataOf({ key: acme.key, requestId: ids[0] }), { events: [makeEvent(), makeEvent()] })]);
    calls.push([ids[1], `${INGEST}/IngestStream`, () => ingestStream(server.ingest, metadataOf({ key: acme.key, requestId: ids[1] }), [{ events: [makeEvent()] }, { events: [makeEvent()] }])]);
    calls.push([ids[2], `${QUERY}/QueryEvents`, () => unary.queryEvents({ key: acme.key, requestId: ids[2] }, { limit: 10 })]);
    calls.push([ids[3], `${QUERY}/StreamEvents`, () => streamEvents({ key: acme.key, requestId: ids[3] }, {})]);
    calls.push([ids[4], `${QUERY}/Aggregate`, () => unary.aggregate({ key: acme.key, requestId: ids[4] }, { groupBy: [GroupBy.GROUP_BY_SERVICE_NAME] })]);
    for (const [requestId, method, run] of calls) {
      const result = await run();
      expect(codeOf(result)).toBe('OK');
      expect(metadataValue(result, 'x-request-id')).toBe(requestId);
      const line = await oneCallLine(requestId);
      expect(line).toMatchObject({ msg: 'call finished', level: 'info', method, requestId, code: 'OK', tenant: 'acme', tenantId: acme.tenantId, keyId: acme.keyId, service: 'telemetry-vault' });
      expect(typeof line.durationMs).toBe('number');
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
      expect(line.traceId).toBeUndefined();
    }
  });

  test('when a call fails after authentication, then its one line says call failed with the code, the reason and the tenant', async () => {
    const requestId = `rid-${randomUUID()}`;
    const result = await unary.queryEvents({ key: acme.key, requestId }, { limit: 5000 });
    expect(codeOf(result)).toBe('INVALID_ARGUMENT');
    expect(metadataValue(result, 'x-request-id')).toBe(requestId);
    const line = await oneCallLine(requestId);
    expect(line).toMatchObject({ msg: 'call failed', level: 'info', method: `${QUERY}/QueryEvents`, code: 'INVALID_ARGUMENT', tenant: 'acme', tenantId: acme.tenantId });
    expect(String(line.reason)).toContain('limit');
    expect(typeof line.durationMs).toBe('number');
  });

  test('when authentication fails, then the one line has the code and no tenant, and x-request-id comes back in the trailers', async () => {
    const requestId = `rid-${randomUUID()}`;
    const result = await ingestUnary(server.ingest, metadataOf({ key: UNKNOWN_KEYS[0], requestId }), { events: [makeEvent()] });
    expect(codeOf(result)).toBe('UNAUTHENTICATED');
    expect(result.trailers.get('x-request-id')).toEqual([requestId]);
    const line = await oneCallLine(requestId);
    expect(line).toMatchObject({ msg: 'call failed', method: `${INGEST}/Ingest`, code: 'UNAUTHENTICATED' });
    expect(line.tenant).toBeUndefined();
    expect(line.tenantId).toBeUndefined();
  });

  test.each([
    ['no x-request-id', undefined],
    ['an x-request-id with a space', 'has a space'],
    ['an x-request-id of 129 characters', 'r'.repeat(129)],
  ])('when the client sends %s, then a generated UUID is logged and echoed in x-request-id', async (_name, sent) => {
    const result = await unary.aggregate({ key: acme.key, requestId: sent }, {});
    expect(codeOf(result)).toBe('OK');
    const echoed = metadataValue(result, 'x-request-id');
    expect(echoed).toMatch(UUID);
    expect(echoed).not.toBe(sent);
    expect(await oneCallLine(echoed!)).toMatchObject({ method: `${QUERY}/Aggregate`, code: 'OK', tenant: 'acme' });
  });

  test('when a traceparent is sent, then the call line carries its trace id; a malformed one is ignored', async () => {
    const traceId = randomBytes(16).toString('hex');
    const traced = `rid-${randomUUID()}`;
    const result = await unary.queryEvents({ key: acme.key, requestId: traced, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` }, {});
    expect(codeOf(result)).toBe('OK');
    expect(await oneCallLine(traced)).toMatchObject({ traceId, code: 'OK' });

    const failed = `rid-${randomUUID()}`;
    await ingestUnary(server.ingest, metadataOf({ requestId: failed, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` }), { events: [] });
    expect(await oneCallLine(failed)).toMatchObject({ traceId, code: 'UNAUTHENTICATED' });

    const malformed = `rid-${randomUUID()}`;
    await unary.queryEvents({ key: acme.key, requestId: malformed, traceparent: `00-${'0'.repeat(32)}-${randomBytes(8).toString('hex')}-01` }, {});
    expect((await oneCallLine(malformed)).traceId).toBeUndefined();
  });

  test('when keys and marked payloads go through successful and failed calls at debug level, then no key and no payload content is in any log line', async () => {
    const results: [string, CallResult<unknown>][] = [];
    const run = async (expected: string, call: Promise<CallResult<unknown>>) => results.push([expected, await call]);
    const valid: Headers[] = [{ key: acme.key }, { bearer: other.key }];
    const invalid: Headers[] = [{ key: UNKNOWN_KEYS[0] }, { bearer: UNKNOWN_KEYS[1] }, { key: MALFORMED_KEYS[0] }, { bearer: MALFORMED_KEYS[1] }];

    for (const headers of valid) {
      // Stored, duplicated, and rejected: not JSON, not an object, over the size limit.
      const events = markedEvents(4);
      await run('OK', ingestUnary(server.ingest, metadataOf(headers), { events: [...events, events[0]!, makeEvent({ payloadJson: `{"secret":"${MARKER}"` }), makeEvent({ payloadJson: `["${MARKER}"]` }), makeEvent({ payloadJson: JSON.stringify({ secret: MARKER.repeat(100) }) })] }));
      await run('OK', ingestStream(server.ingest, metadataOf(headers), [{ events: markedEvents(2) }, { events: markedEvents(1) }]));
      await run('OK', unary.queryEvents(headers, { filter: { payloadContains: { secret: MARKER } }, payloadAsJson: true }));
      await run('OK', unary.queryEvents(headers, { filter: { payloadContains: { secret: MARKER } } }));
      await run('OK', streamEvents(headers, { filter: { payloadContains: { secret: MARKER } } }));
      await run('OK', unary.aggregate(headers, { filter: { payloadContains: { secret: MARKER } } }));
      // Failed calls carrying the marker: a bad limit, a too deep filter, a filter too large.
      await run('INVALID_ARGUMENT', unary.queryEvents(headers, { filter: { payloadContains: { secret: MARKER } }, limit: 5000 }));
      await run('INVALID_ARGUMENT', unary.queryEvents(headers, { filter: { payloadContains: { a: { b: { c: { d: { e: { f: { g: { h: { i: MARKER } } } } } } } } } } }));
      await run('INVALID_ARGUMENT', streamEvents(headers, { filter: { payloadContains: { secret: MARKER.repeat(200) } } }));
    }
    // A message over the tenant's burst of 5, and a take refused once the burst is spent (1 event a second).
    await run('INVALID_ARGUMENT', ingestUnary(server.ingest, metadataOf({ bearer: limited.key }), { events: markedEvents(6) }));
    await run('OK', ingestUnary(server.ingest, metadataOf({ bearer: limited.key }), { events: markedEvents(5) }));
    await run('RESOURCE_EXHAUSTED', ingestUnary(server.ingest, metadataOf({ key: limited.key }), { events: markedEvents(5) }));
    for (const headers of invalid) {
      await run('UNAUTHENTICATED', ingestStream(server.ingest, metadataOf(headers), [{ events: markedEvents(2) }]));
      await run('UNAUTHENTICATED', unary.queryEvents(headers, { filter: { payloadContains: { secret: MARKER } } }));
    }
    // A stream the client cancels after sending marked events.
    const cancelled = captureCall<unknown, ClientWritableStream<IngestStreamRequest>>(
      (callback) => server.ingest.ingestStream(metadataOf({ key: acme.key }), callback),
      (call) => {
        call.write({ events: markedEvents(3) });
        setTimeout(() => call.cancel(), 100);
      },
    );
    await run('CANCELLED', cancelled);

    expect(results.map(([expected, result]) => codeOf(result) === expected || `${expected} expected, got ${codeOf(result)}`).filter((ok) => ok !== true)).toEqual([]);
    expect((results[0]![1].response as { rejected: number }).rejected).toBe(3);
    // The calls were logged (so the checks below look at lines that exist), at debug level.
    for (const [expected, result] of results.filter(([expected]) => expected !== 'CANCELLED')) {
      expect(await oneCallLine(metadataValue(result, 'x-request-id')!)).toMatchObject({ code: expected });
    }
    await eventually(() => expect(server.logs.records().some((record) => record.method === `${INGEST}/IngestStream` && record.code === 'CANCELLED')).toBe(true));
    expect(server.logs.records().some((record) => record.level === 'debug')).toBe(true);

    const text = server.logs.text;
    for (const key of [acme.key, other.key, ...UNKNOWN_KEYS, ...MALFORMED_KEYS]) {
      expect(text).not.toContain(key);
      // Not even the secret part alone.
      expect(text).not.toContain(key.replace(/^tv_/, ''));
    }
    expect(text).not.toContain(MARKER);
  });
});
