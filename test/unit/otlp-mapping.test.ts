import { toBinary, type DescMessage } from '@bufbuild/protobuf';
import { mapLogs, mapMetrics, mapTraces, UNKNOWN_SERVICE } from '../../src/domain/otlp/map-otlp';
import { decodeBinaryByReflection, decodeJson, OTLP_SCHEMAS, type OtlpRequests } from '../../src/transport/otlp/otlp-schemas';

const RECEIVED = 1_800_000_000_000_000_000n;
const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';

/** The same OTLP/JSON request decoded as JSON and, re-encoded, as protobuf. */
function bothEncodings<S extends 'logs' | 'traces' | 'metrics'>(signal: S, json: unknown): { fromJson: OtlpRequests[S]; fromBinary: OtlpRequests[S] } {
  const fromJson = decodeJson(signal, json);
  const bytes = toBinary(OTLP_SCHEMAS[signal].request as DescMessage, fromJson as never);
  return { fromJson, fromBinary: decodeBinaryByReflection(signal, bytes) };
}

/** A mapped payload as text. */
const textOf = (payload: string | Uint8Array | undefined): string => (typeof payload === 'string' ? payload : Buffer.from(payload!).toString('utf8'));

const resource = (attributes: unknown[] = [{ key: 'service.name', value: { stringValue: 'checkout' } }]) => ({ attributes });
const scope = { name: 'lib', version: '1.2.3', attributes: [{ key: 'scope.attr', value: { boolValue: true } }] };

function logsRequest(record: Record<string, unknown>, res = resource(), sc: unknown = scope) {
  return { resourceLogs: [{ resource: res, scopeLogs: [{ scope: sc, logRecords: [record] }] }] };
}

const LOG = {
  timeUnixNano: '1700000000123456789',
  observedTimeUnixNano: '1700000001000000000',
  severityNumber: 9,
  severityText: 'INFO',
  body: { stringValue: 'hello' },
  attributes: [
    { key: 'big', value: { intValue: '9007199254740993' } },
    { key: 'ratio', value: { doubleValue: 0.5 } },
    { key: 'ok', value: { boolValue: true } },
    { key: 'raw', value: { bytesValue: Buffer.from([1, 2, 3]).toString('base64') } },
    { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } } },
    { key: 'map', value: { kvlistValue: { values: [{ key: 'inner', value: { stringValue: 'x' } }] } } },
  ],
  flags: 1,
  traceId: TRACE,
  spanId: SPAN,
};

describe('OTLP mapping (contract section 9)', () => {
  test('when a log record is mapped, then event_type, service_name, timestamp and every payload key follow the contract, integers beyond 2^53 exact', () => {
    const { fromJson } = bothEncodings('logs', logsRequest(LOG));
    const mapped = mapLogs(fromJson, RECEIVED);
    expect(mapped.records).toBe(1);
    expect(mapped.unmapped).toEqual([]);
    const [event] = mapped.events;
    expect(event!.eventType).toBe('log');
    expect(event!.serviceName).toBe('checkout');
    expect(event!.timestamp).toEqual({ seconds: 1_700_000_000, nanos: 123_456_789 });
    expect(event!.eventId).toMatch(/^[0-9a-f]{40}$/);
    expect(textOf(event!.payloadJson)).toContain('"big":9007199254740993');
    expect(JSON.parse(textOf(event!.payloadJson))).toEqual({
      attributes: { big: 9007199254740992, ratio: 0.5, ok: true, raw: 'AQID', list: ['a', 2], map: { inner: 'x' } },
      body: 'hello',
      severity_text: 'INFO',
      severity_number: 9,
      trace_id: TRACE,
      span_id: SPAN,
      flags: 1,
      resource: { 'service.name': 'checkout' },
      scope: { name: 'lib', version: '1.2.3' },
    });
  });

  test('when the same log record arrives as protobuf and as JSON, or again, then its event_id is the same', () => {
    const { fromJson, fromBinary } = bothEncodings('logs', logsRequest(LOG));
    const id = mapLogs(fromJson, RECEIVED).events[0]!.eventId;
    expect(mapLogs(fromBinary, RECEIVED).events[0]!.eventId).toBe(id);
    expect(mapLogs(fromBinary, RECEIVED + 5n).events[0]!.eventId).toBe(id);
    // In another batch, beside other records.
    const other = logsRequest({ ...LOG, body: { stringValue: 'other' } });
    const batch = { resourceLogs: [...other.resourceLogs, ...logsRequest(LOG).resourceLogs] };
    expect(mapLogs(decodeJson('logs', batch), RECEIVED).events[1]!.eventId).toBe(id);
  });

  test('when log records differ in an attribute, the body, a time, the scope or the resource, then their event_ids differ', () => {
    const idOf = (request: unknown): string => mapLogs(decodeJson('logs', request), RECEIVED).events[0]!.eventId;
    const base = idOf(logsRequest(LOG));
    const variants = [
      logsRequest({ ...LOG, attributes: [...LOG.attributes, { key: 'extra', value: { stringValue: '1' } }] }),
      logsRequest({ ...LOG, body: { stringValue: 'hello!' } }),
      logsRequest({ ...LOG, timeUnixNano: '1700000000123456790' }),
      logsRequest({ ...LOG, observedTimeUnixNano: '1700000001000000001' }),
      logsRequest(LOG, resource(), { ...scope, version: '1.2.4' }),
      logsRequest(LOG, resource(), { ...scope, attributes: [] }),
      logsRequest(LOG, resource([{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host', value: { stringValue: 'b' } }])),
    ];
    const ids = variants.map(idOf);
    expect(new Set([base, ...ids]).size).toBe(variants.length + 1);
  });

  test('when a log record is mapped, then its event_id starts with its own time in hex (the observed time without one, zeros without either, never the receipt time)', () => {
    const idOf = (record: Record<string, unknown>, received = RECEIVED): string => mapLogs(decodeJson('logs', logsRequest(record)), received).events[0]!.eventId;
    expect(idOf(LOG).slice(0, 16)).toBe(1_700_000_000_123_456_789n.toString(16).padStart(16, '0'));
    expect(idOf({ ...LOG, timeUnixNano: '0' }).slice(0, 16)).toBe(1_700_000_001_000_000_000n.toString(16).padStart(16, '0'));
    const untimed = { body: { stringValue: 'x' } };
    expect(idOf(untimed).slice(0, 16)).toBe('0'.repeat(16));
    expect(idOf(untimed, RECEIVED + 1_000_000_000n)).toBe(idOf(untimed));
    // Later records sort after earlier ones, as the index sees them.
    expect(idOf({ ...LOG, timeUnixNano: '1700000000123456790' }) > idOf(LOG)).toBe(true);
  });

  test('when a log record has no time, then the observed time is its timestamp, else the receipt time; without service.name the service is unknown_service', () => {
    const observed = mapLogs(decodeJson('logs', logsRequest({ ...LOG, timeUnixNano: '0' })), RECEIVED).events[0]!;
    expect(observed.timestamp).toEqual({ seconds: 1_700_000_001, nanos: 0 });
    const received = mapLogs(decodeJson('logs', logsRequest({ body: { stringValue: 'x' } }, resource([]))), RECEIVED).events[0]!;
    expect(received.timestamp).toEqual({ seconds: 1_800_000_000, nanos: 0 });
    expect(received.serviceName).toBe(UNKNOWN_SERVICE);
    expect(JSON.parse(textOf(received.payloadJson))).toMatchObject({ trace_id: '', span_id: '', attributes: {}, resource: {}, scope: { name: 'lib' } });
  });

  const SPAN_JSON = {
    traceId: TRACE,
    spanId: SPAN,
    parentSpanId: '0102030405060708',
    name: 'GET /cart',
    kind: 2,
    startTimeUnixNano: '1700000000000001000',
    endTimeUnixNano: '1700000000250001000',
    attributes: [{ key: 'http.status_code', value: { intValue: '200' } }],
    events: [{ timeUnixNano: '1700000000100000000', name: 'cache miss', attributes: [{ key: 'key', value: { stringValue: 'k1' } }] }],
    links: [{ traceId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', spanId: 'bbbbbbbbbbbbbbbb', traceState: 'x=1', attributes: [] }],
    status: { code: 2, message: 'boom' },
  };

  test('when a span is mapped, then its event_id is <trace_id>:<span_id> and its payload has every contract key', () => {
    const { fromJson, fromBinary } = bothEncodings('traces', { resourceSpans: [{ resource: resource(), scopeSpans: [{ scope, spans: [SPAN_JSON] }] }] });
    const mapped = mapTraces(fromBinary);
    const event = mapped.events[0]!;
    expect(event).toMatchObject({ eventId: `${TRACE}:${SPAN}`, eventType: 'span', serviceName: 'checkout', timestamp: { seconds: 1_700_000_000, nanos: 1000 } });
    expect(JSON.parse(textOf(event.payloadJson))).toEqual({
      attributes: { 'http.status_code': 200 },
      name: 'GET /cart',
      kind: 'server',
      trace_id: TRACE,
      span_id: SPAN,
      parent_span_id: '0102030405060708',
      start_time: '2023-11-14T22:13:20.000001000Z',
      end_time: '2023-11-14T22:13:20.250001000Z',
      duration_ms: 250,
      status_code: 'error',
      status_message: 'boom',
      events: [{ name: 'cache miss', time: '2023-11-14T22:13:20.100000000Z', attributes: { key: 'k1' } }],
      links: [{ trace_id: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', span_id: 'bbbbbbbbbbbbbbbb', trace_state: 'x=1', attributes: {} }],
      resource: { 'service.name': 'checkout' },
      scope: { name: 'lib', version: '1.2.3' },
    });
    expect(mapTraces(fromJson).events[0]).toEqual(event);
  });

  test('when spans have bad ids or no start time, then each is refused with its index and reason, the others mapped', () => {
    const spans = [SPAN_JSON, { ...SPAN_JSON, traceId: 'abcd' }, { ...SPAN_JSON, spanId: '0000000000000000' }, { ...SPAN_JSON, spanId: '1111111111111111', startTimeUnixNano: '0' }];
    const mapped = mapTraces(decodeJson('traces', { resourceSpans: [{ resource: resource(), scopeSpans: [{ scope, spans }] }] }));
    expect(mapped.records).toBe(4);
    expect(mapped.events).toHaveLength(1);
    expect(mapped.unmapped).toEqual([
      { index: 1, reason: 'trace_id must be 16 bytes, not 2' },
      { index: 2, reason: 'span_id must not be all zeros' },
      { index: 3, reason: 'start_time_unix_nano is required (the event timestamp)' },
    ]);
  });

  test('when OTLP/JSON carries an id that is not hex, then decoding fails naming the field', () => {
    expect(() => decodeJson('traces', { resourceSpans: [{ scopeSpans: [{ spans: [{ ...SPAN_JSON, traceId: 'not-hex!' }] }] }] })).toThrow(/traceId must be hex/);
  });

  test('when metrics are mapped, then each data point is one event with the kind\'s values, and its event_id depends on name, attributes and time', () => {
    const point = { attributes: [{ key: 'route', value: { stringValue: '/a' } }], startTimeUnixNano: '1700000000000000000', timeUnixNano: '1700000010000000000' };
    const metrics = [
      { name: 'queue.depth', description: 'depth', unit: '1', gauge: { dataPoints: [{ ...point, asDouble: 1.5 }] } },
      { name: 'requests', unit: '{request}', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ ...point, asInt: '9007199254740993' }, { ...point, attributes: [], asInt: '1' }] } },
      { name: 'latency', unit: 'ms', histogram: { aggregationTemporality: 1, dataPoints: [{ ...point, count: '3', sum: 12, min: 1, max: 8, bucketCounts: ['1', '2'], explicitBounds: [5] }] } },
      { name: 'rtt', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [{ ...point, count: '2', sum: 3, scale: 1, zeroCount: '0', positive: { offset: -1, bucketCounts: ['1', '1'] } }] } },
      { name: 'size', summary: { dataPoints: [{ ...point, count: '4', sum: 10, quantileValues: [{ quantile: 0.5, value: 2 }, { quantile: 1, value: 4 }] }] } },
    ];
    const { fromJson, fromBinary } = bothEncodings('metrics', { resourceMetrics: [{ resource: resource(), scopeMetrics: [{ scope, metrics }] }] });
    const mapped = mapMetrics(fromBinary, RECEIVED);
    expect(mapped.records).toBe(6);
    expect(mapMetrics(fromJson, RECEIVED).events).toEqual(mapped.events);
    const payloads = mapped.events.map((event) => JSON.parse(textOf(event.payloadJson)) as Record<string, unknown>);
    expect(mapped.events.every((event) => event.eventType === 'metric' && event.serviceName === 'checkout')).toBe(true);
    expect(mapped.events[0]!.timestamp).toEqual({ seconds: 1_700_000_010, nanos: 0 });
    expect(payloads[0]).toMatchObject({ name: 'queue.depth', description: 'depth', unit: '1', kind: 'gauge', value: 1.5, attributes: { route: '/a' }, scope: { name: 'lib', version: '1.2.3' } });
    expect(payloads[1]).toMatchObject({ name: 'requests', kind: 'sum', is_monotonic: true, temporality: 'cumulative' });
    expect(textOf(mapped.events[1]!.payloadJson)).toContain('"value":9007199254740993');
    expect(payloads[3]).toMatchObject({ kind: 'histogram', count: 3, sum: 12, min: 1, max: 8, bucket_counts: [1, 2], explicit_bounds: [5], temporality: 'delta' });
    expect(payloads[4]).toMatchObject({ kind: 'exponential_histogram', count: 2, sum: 3, scale: 1, positive: { offset: -1, bucket_counts: [1, 1] } });
    expect(payloads[5]).toMatchObject({ kind: 'summary', count: 4, sum: 10, quantiles: [{ quantile: 0.5, value: 2 }, { quantile: 1, value: 4 }] });
    const ids = mapped.events.map((event) => event.eventId);
    expect(new Set(ids).size).toBe(6);
    // Same name, attributes and time: the same id, whatever the value (the first write wins).
    const again = decodeJson('metrics', { resourceMetrics: [{ resource: resource(), scopeMetrics: [{ scope, metrics: [{ ...metrics[0], gauge: { dataPoints: [{ ...point, asDouble: 2.5 }] } }] }] }] });
    expect(mapMetrics(again, RECEIVED).events[0]!.eventId).toBe(ids[0]);
    // Each id starts with its point's time in hex.
    expect(ids[0]!.slice(0, 16)).toBe(1_700_000_010_000_000_000n.toString(16).padStart(16, '0'));
    expect(ids.every((id) => /^[0-9a-f]{40}$/.test(id))).toBe(true);
  });
});
