import { gzipSync } from 'node:zlib';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { startTestServer, type TestServer } from '../support/test-server';
import { createTenantWithKey, errorDetails, storedEvents } from '../support/ingest-calls';
import { queryEvents } from '../support/query-fixtures';
import { ReflectionClient } from '../support/reflection-client';

/** A stock exporter, remembering each batch it was given and each result it reported. */
class Recording<T> {
  readonly batches: T[][] = [];
  readonly results: ExportResult[] = [];

  constructor(readonly inner: { export(items: T[], done: (result: ExportResult) => void): void; shutdown(): Promise<void>; forceFlush?(): Promise<void> }) {}

  export(items: T[], done: (result: ExportResult) => void): void {
    this.batches.push(items);
    this.inner.export(items, (result) => {
      this.results.push(result);
      done(result);
    });
  }

  /** Sends `items` again through the stock exporter (what it does on a retry). */
  exportAgain(items: T[]): Promise<ExportResult> {
    return new Promise((resolve) => this.inner.export(items, resolve));
  }

  async forceFlush(): Promise<void> {
    await this.inner.forceFlush?.();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

function grpcMetadata(key: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  return metadata;
}

function payloadOf(event: Event): Record<string, unknown> {
  return JSON.parse(event.payloadJson!) as Record<string, unknown>;
}

/** Emits `count` logs through a real LoggerProvider + BatchLogRecordProcessor over `exporter`, and flushes. */
async function emitLogs(exporter: LogRecordExporter, service: string, count: number, extra: Record<string, string | number | boolean> = {}): Promise<void> {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
    processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 512, scheduledDelayMillis: 60_000 })],
  });
  const logger = provider.getLogger('checkout-lib', '2.0.1');
  for (let i = 0; i < count; i++) {
    logger.emit({ severityNumber: SeverityNumber.WARN, severityText: 'WARN', body: `order ${i} slow`, attributes: { 'order.id': i, 'customer.tier': 'gold', big: 2 ** 40 + i, ...extra } });
  }
  await provider.forceFlush();
  await provider.shutdown();
}

describe('OTLP receiver with the stock OpenTelemetry exporters (contract section 9)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let key: string;
  let tenantId: string;
  let otlpGrpc: string;
  let otlpHttp: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url, { GRPC_MAX_RECEIVE_MESSAGE_SIZE: '256KiB', INGEST_MAX_PAYLOAD_BYTES: '4KiB' });
    ({ key, tenantId } = await createTenantWithKey(db.pool, 'otel'));
    otlpGrpc = `http://127.0.0.1:${server.vault.otlpGrpcPort}`;
    otlpHttp = `http://127.0.0.1:${server.vault.otlpHttpPort}`;
  });

  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  test('when logs are exported over gRPC with gzip on OTLP_GRPC_PORT, then QueryEvents returns each as a log event with every mapped field, and a re-export stores nothing twice', async () => {
    const exporter = new Recording<ReadableLogRecord>(new GrpcLogExporter({ url: otlpGrpc, metadata: grpcMetadata(key), compression: 'gzip' as never }));
    await emitLogs(exporter as unknown as LogRecordExporter, 'otel-logs-grpc', 3);
    expect(exporter.results.map((result) => result.code)).toEqual([ExportResultCode.SUCCESS]);

    const page = await queryEvents(server.query, key, { filter: { eventTypes: ['log'], serviceNames: ['otel-logs-grpc'] }, payloadAsJson: true, order: 2 });
    expect(page.events).toHaveLength(3);
    const sent = exporter.batches[0]!;
    for (const event of page.events) {
      const i = sent.findIndex((record) => record.body === payloadOf(event)['body']);
      const record = sent[i]!;
      expect(event.eventType).toBe('log');
      expect(event.serviceName).toBe('otel-logs-grpc');
      expect(event.eventId).toMatch(/^[0-9a-f]{40}$/);
      const [seconds, nanos] = record.hrTime;
      expect(event.timestamp).toEqual({ seconds, nanos: Math.floor(nanos / 1000) * 1000 });
      expect(payloadOf(event)).toEqual({
        attributes: { 'order.id': i, 'customer.tier': 'gold', big: 2 ** 40 + i },
        body: `order ${i} slow`,
        severity_text: 'WARN',
        severity_number: SeverityNumber.WARN,
        trace_id: '',
        span_id: '',
        flags: 0,
        resource: expect.objectContaining({ 'service.name': 'otel-logs-grpc', 'deployment.environment': 'test' }),
        scope: { name: 'checkout-lib', version: '2.0.1' },
      });
    }

    // What an exporter does on retry: the same batch again, over gRPC and over OTLP/HTTP.
    // (emitLogs shut the first exporter down with its provider: a new one sends the batch again.)
    const retrying = new Recording<ReadableLogRecord>(new GrpcLogExporter({ url: otlpGrpc, metadata: grpcMetadata(key), compression: 'gzip' as never }));
    expect((await retrying.exportAgain(sent)).code).toBe(ExportResultCode.SUCCESS);
    await retrying.shutdown();
    const overHttp = new ProtoLogExporter({ url: `${otlpHttp}/v1/logs`, headers: { 'x-api-key': key } });
    expect((await new Promise<ExportResult>((resolve) => overHttp.export(sent, resolve))).code).toBe(ExportResultCode.SUCCESS);
    await overHttp.shutdown();
    const again = await queryEvents(server.query, key, { filter: { eventTypes: ['log'], serviceNames: ['otel-logs-grpc'] } });
    expect(again.events.map((event) => event.eventId).sort()).toEqual(page.events.map((event) => event.eventId).sort());
  });

  test('when nested spans with events and links are exported over OTLP/HTTP protobuf, then payload_contains on the trace_id returns every span of the trace, mapped', async () => {
    const exporter = new ProtoTraceExporter({ url: `${otlpHttp}/v1/traces`, headers: { authorization: `Bearer ${key}` }, compression: 'gzip' as never });
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'otel-traces' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('router', '1.0.0');
    const linked = tracer.startSpan('background');
    linked.end();
    const root = tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, attributes: { 'http.route': '/cart' } });
    const child = tracer.startSpan('SELECT carts', { kind: SpanKind.CLIENT, links: [{ context: linked.spanContext(), attributes: { reason: 'batch' } }] }, trace.setSpan(context.active(), root));
    child.addEvent('rows', { count: 3 });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
    child.end();
    root.end();
    await provider.forceFlush();
    await provider.shutdown();

    const traceId = root.spanContext().traceId;
    const page = await queryEvents(server.query, key, { filter: { eventTypes: ['span'], payloadContains: { trace_id: traceId } }, payloadAsJson: true });
    expect(page.events.map((event) => event.eventId).sort()).toEqual([`${traceId}:${root.spanContext().spanId}`, `${traceId}:${child.spanContext().spanId}`].sort());
    const byName = new Map(page.events.map((event) => [payloadOf(event)['name'], event]));
    const childEvent = byName.get('SELECT carts')!;
    expect(childEvent.serviceName).toBe('otel-traces');
    expect(payloadOf(childEvent)).toMatchObject({
      kind: 'client',
      trace_id: traceId,
      span_id: child.spanContext().spanId,
      parent_span_id: root.spanContext().spanId,
      status_code: 'error',
      status_message: 'timeout',
      events: [{ name: 'rows', attributes: { count: 3 } }],
      links: [{ trace_id: linked.spanContext().traceId, span_id: linked.spanContext().spanId, attributes: { reason: 'batch' } }],
      scope: { name: 'router', version: '1.0.0' },
    });
    const rootPayload = payloadOf(byName.get('GET /cart')!);
    expect(rootPayload).toMatchObject({ kind: 'server', parent_span_id: '', status_code: 'unset', attributes: { 'http.route': '/cart' } });
    expect(rootPayload['start_time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(typeof rootPayload['duration_ms']).toBe('number');
  });

  test('when a span is exported over gRPC on the vault\'s own port, then it is stored under <trace_id>:<span_id>', async () => {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'otel-traces-grpc' }),
      spanProcessors: [new SimpleSpanProcessor(new GrpcTraceExporter({ url: `http://${server.address}`, metadata: grpcMetadata(key) }))],
    });
    const span = provider.getTracer('t').startSpan('work');
    span.end();
    await provider.forceFlush();
    await provider.shutdown();
    const { traceId, spanId } = span.spanContext();
    const page = await queryEvents(server.query, key, { filter: { eventTypes: ['span'], serviceNames: ['otel-traces-grpc'] } });
    expect(page.events.map((event) => event.eventId)).toEqual([`${traceId}:${spanId}`]);
  });

  test.each([
    ['gRPC', () => new GrpcMetricExporter({ url: `http://${server.address}`, metadata: grpcMetadata(key) })],
    ['OTLP/HTTP', () => new ProtoMetricExporter({ url: `${otlpHttp}/v1/metrics`, headers: { 'x-api-key': key } })],
  ])('when a counter, a gauge and a histogram are exported over %s, then each data point is a metric event with its kind\'s values', async (transport, makeExporter) => {
    const service = `otel-metrics-${transport === 'gRPC' ? 'grpc' : 'http'}`;
    const reader = new PeriodicExportingMetricReader({ exporter: makeExporter() as PushMetricExporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service }), readers: [reader] });
    const meter = provider.getMeter('shop-metrics', '3.1.4');
    meter.createCounter('orders', { description: 'orders placed', unit: '{order}' }).add(5, { region: 'eu' });
    meter.createGauge('queue.depth', { unit: '1' }).record(17.5, { queue: 'mail' });
    meter.createHistogram('latency', { unit: 'ms' }).record(42, { route: '/cart' });
    await provider.forceFlush();
    await provider.shutdown();

    const page = await queryEvents(server.query, key, { filter: { eventTypes: ['metric'], serviceNames: [service] }, payloadAsJson: true });
    const byName = new Map(page.events.map((event) => [payloadOf(event)['name'], payloadOf(event)]));
    expect([...byName.keys()].sort()).toEqual(['latency', 'orders', 'queue.depth']);
    expect(byName.get('orders')).toMatchObject({ kind: 'sum', value: 5, is_monotonic: true, temporality: 'cumulative', unit: '{order}', description: 'orders placed', attributes: { region: 'eu' }, scope: { name: 'shop-metrics', version: '3.1.4' } });
    expect(byName.get('queue.depth')).toMatchObject({ kind: 'gauge', value: 17.5, attributes: { queue: 'mail' } });
    expect(byName.get('latency')).toMatchObject({ kind: 'histogram', count: 1, sum: 42, min: 42, max: 42, temporality: 'cumulative', attributes: { route: '/cart' } });
    expect((byName.get('latency')!['bucket_counts'] as number[]).reduce((a, b) => a + b, 0)).toBe(1);
  });

  test('when Aggregate groups by service, then OTLP logs count like any other events', async () => {
    await emitLogs(new ProtoLogExporter({ url: `${otlpHttp}/v1/logs`, headers: { 'x-api-key': key } }), 'otel-aggregate', 4);
    const response = await new Promise<{ rows: { serviceName: string; count: number }[] }>((resolve, reject) =>
      server.query.aggregate({ filter: { eventTypes: ['log'], serviceNames: ['otel-aggregate'], startTime: undefined, endTime: undefined, payloadContains: undefined }, groupBy: [2], bucket: undefined }, grpcMetadata(key), (error, value) => (error ? reject(error) : resolve(value))),
    );
    expect(response.rows).toEqual([expect.objectContaining({ serviceName: 'otel-aggregate', count: 4 })]);
  });

  test('when a wrong key is used, then gRPC answers UNAUTHENTICATED and OTLP/HTTP 401, and the stock exporters do not retry', async () => {
    const failures = async (): Promise<number> => (await server.vault.metrics.registry.getSingleMetric('telemetry_vault_auth_failures_total')!.get()).values.reduce((sum, value) => sum + value.value, 0);
    const before = await failures();
    const grpcExporter = new Recording<ReadableLogRecord>(new GrpcLogExporter({ url: otlpGrpc, metadata: grpcMetadata('tv_wrong') }));
    await emitLogs(grpcExporter as unknown as LogRecordExporter, 'otel-wrong-key', 1);
    expect(grpcExporter.results[0]!.code).toBe(ExportResultCode.FAILED);
    expect((grpcExporter.results[0]!.error as ServiceError).code).toBe(status.UNAUTHENTICATED);
    const httpExporter = new Recording<ReadableLogRecord>(new ProtoLogExporter({ url: `${otlpHttp}/v1/logs`, headers: { 'x-api-key': 'tv_wrong' } }));
    await emitLogs(httpExporter as unknown as LogRecordExporter, 'otel-wrong-key', 1);
    expect(httpExporter.results[0]!.code).toBe(ExportResultCode.FAILED);
    expect((httpExporter.results[0]!.error as { code?: number }).code).toBe(401);
    // One attempt each: neither exporter retried.
    expect((await failures()) - before).toBe(2);
    const raw = await fetch(`${otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toEqual({ code: status.UNAUTHENTICATED, message: expect.stringContaining('missing or invalid API key') });
  });

  test('when an export outruns the events bucket, then gRPC answers RESOURCE_EXHAUSTED with RetryInfo, and the OTLP/HTTP exporter backs off on 429 + Retry-After until everything arrives', async () => {
    const slow = await createTenantWithKey(db.pool, 'otel-slow', { eventsPerSecond: 10, eventBurst: 10 });
    // Each emitLogs shuts its provider down, and the exporter with it: one exporter per batch.
    const grpcExporters = [0, 1].map(() => new Recording<ReadableLogRecord>(new GrpcLogExporter({ url: otlpGrpc, metadata: grpcMetadata(slow.key) })));
    for (const exporter of grpcExporters) await emitLogs(exporter as unknown as LogRecordExporter, 'otel-throttled', 8);
    expect(grpcExporters.map((exporter) => exporter.results[0]!.code)).toEqual([ExportResultCode.SUCCESS, ExportResultCode.FAILED]);
    const refused = grpcExporters[1]!.results[0]!.error as ServiceError;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(errorDetails(refused).retryDelayMs).toBeGreaterThan(0);

    // The JavaScript gRPC exporter (0.223) retries nothing; the OTLP/HTTP one retries 429 after Retry-After.
    const httpExporters = [0, 1].map(() => new Recording<ReadableLogRecord>(new ProtoLogExporter({ url: `${otlpHttp}/v1/logs`, headers: { 'x-api-key': slow.key }, timeoutMillis: 30_000 })));
    for (const exporter of httpExporters) await emitLogs(exporter as unknown as LogRecordExporter, 'otel-throttled-http', 8);
    expect(httpExporters.map((exporter) => exporter.results[0]!.code)).toEqual([ExportResultCode.SUCCESS, ExportResultCode.SUCCESS]);
    const stored = await storedEvents(db.pool, slow.tenantId);
    expect(stored.filter((row) => row.service_name === 'otel-throttled-http')).toHaveLength(16);
    expect(stored.filter((row) => row.service_name === 'otel-throttled')).toHaveLength(8);

    const raw = await fetch(`${otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': slow.key }, body: JSON.stringify(logsJson('throttled-raw', 10)) });
    expect(raw.status).toBe(429);
    expect(Number(raw.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  test('when a batch is half bad, then the stock exporter succeeds, the good records are stored, and partial_success counts and names the rejected ones', async () => {
    const exporter = new Recording<ReadableLogRecord>(new GrpcLogExporter({ url: otlpGrpc, metadata: grpcMetadata(key) }));
    const provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'otel-half-bad' }), processors: [new BatchLogRecordProcessor({ exporter: exporter as unknown as LogRecordExporter })] });
    const logger = provider.getLogger('lib');
    logger.emit({ body: 'fine 1' });
    logger.emit({ body: 'x'.repeat(8000) });
    logger.emit({ body: 'fine 2' });
    await provider.forceFlush();
    await provider.shutdown();
    expect(exporter.results[0]!.code).toBe(ExportResultCode.SUCCESS);
    const stored = (await storedEvents(db.pool, tenantId)).filter((row) => row.service_name === 'otel-half-bad');
    expect(stored.map((row) => (row.payload as { body: string }).body).sort()).toEqual(['fine 1', 'fine 2']);

    const spans = [
      { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'ok', startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n), endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n) },
      { traceId: 'abcd', spanId: 'eee19b7ec3c1b175', name: 'bad id', startTimeUnixNano: '1' },
    ];
    const response = await fetch(`${otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining('span 1: trace_id must be 16 bytes, not 2') } });
  });

  test('when OTLP/HTTP requests are malformed, too large, of another type or method or path, then each gets its status and a message naming the problem', async () => {
    const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
      fetch(`${otlpHttp}${path}`, { method: 'POST', body, headers: { 'x-api-key': key, 'content-type': 'application/x-protobuf', ...headers } });
    const garbage = await post('/v1/logs', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(garbage.status).toBe(400);
    const notJson = await post('/v1/metrics', '{"resourceMetrics": [', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { message: string }).message).toContain('ExportMetricsServiceRequest');
    const badGzip = await post('/v1/logs', 'not gzip', { 'content-encoding': 'gzip' });
    expect(badGzip.status).toBe(400);
    const bomb = await post('/v1/logs', gzipSync(Buffer.alloc(1024 * 1024)), { 'content-encoding': 'gzip' });
    expect(bomb.status).toBe(413);
    expect(Buffer.from(await bomb.arrayBuffer()).toString()).toContain('GRPC_MAX_RECEIVE_MESSAGE_SIZE');
    expect((await post('/v1/logs', Buffer.alloc(300 * 1024))).status).toBe(413);
    expect((await post('/v1/logs', '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('/v1/logs', '{}', { 'content-encoding': 'br' })).status).toBe(415);
    expect((await post('/v1/events', '')).status).toBe(404);
    const get = await fetch(`${otlpHttp}/v1/logs`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const ok = await post('/v1/logs', JSON.stringify(logsJson('json-ok', 2)), { 'content-type': 'application/json' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({});
  });

  test('when an authenticated OTLP/HTTP body is malformed or too large, then it still spends the tenant\'s calls token, as a malformed or oversized native unary call does', async () => {
    const limited = await createTenantWithKey(db.pool, 'otel-malformed-calls', { callsPerMinute: 3 });
    const post = (body: string | Buffer, type = 'application/x-protobuf') => fetch(`${otlpHttp}/v1/logs`, { method: 'POST', body, headers: { 'x-api-key': limited.key, 'content-type': type } });
    const garbage = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(garbage.status).toBe(400);
    expect(garbage.headers.get('x-ratelimit-limit')).not.toBeNull();
    const notJson = await post('{"resourceLogs": [', 'application/json');
    expect(notJson.status).toBe(400);
    const tooLarge = await post(Buffer.alloc(300 * 1024));
    expect(tooLarge.status).toBe(413);
    // Three calls a minute, three spent: a well-formed export is now throttled on its calls bucket.
    const next = await post(JSON.stringify(logsJson('after-malformed', 1)), 'application/json');
    expect(next.status).toBe(429);
    expect(((await next.json()) as { message: string }).message).toMatch(/calls/);
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await storedEvents(db.pool, limited.tenantId)).toHaveLength(0);
  });

  test('when a request carries more records than the tenant\'s event burst, then gRPC answers INVALID_ARGUMENT and OTLP/HTTP 400, naming the burst; a stored export carries x-ratelimit-*', async () => {
    const small = await createTenantWithKey(db.pool, 'otel-small-burst', { eventsPerSecond: 5, eventBurst: 5 });
    const exporter = new Recording<ReadableLogRecord>(new GrpcLogExporter({ url: otlpGrpc, metadata: grpcMetadata(small.key) }));
    await emitLogs(exporter as unknown as LogRecordExporter, 'otel-burst', 6);
    const refused = exporter.results[0]!.error as ServiceError;
    expect(refused.code).toBe(status.INVALID_ARGUMENT);
    expect(refused.details).toContain('at most 5 events');
    const overHttp = await fetch(`${otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': small.key }, body: JSON.stringify(logsJson('otel-burst', 6)) });
    expect(overHttp.status).toBe(400);
    expect(((await overHttp.json()) as { message: string }).message).toContain('at most 5 events');
    const fits = await fetch(`${otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': small.key }, body: JSON.stringify(logsJson('otel-burst', 2)) });
    expect(fits.status).toBe(200);
    expect(fits.headers.get('x-ratelimit-limit')).toBe('5');
    expect(Number(fits.headers.get('x-ratelimit-remaining'))).toBeLessThanOrEqual(3);
  });

  test('when random bytes and random JSON are posted to every OTLP endpoint, then each gets a 4xx or a partial success, and the server keeps serving', async () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const bytes = (length: number): Buffer => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    const shapes = [
      () => bytes(1 + Math.floor(random() * 200)),
      () => JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { kvlistValue: { values: [{ key: 'k', value: { intValue: '1e400' } }] } } }] }] }] }),
      () => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'zz', spanId: 7 }] }] }] }),
      () => JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { dataPoints: [{ asInt: '99999999999999999999999' }] } }] }] }] }),
      () => '['.repeat(100_000),
      () => JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ attributes: [{ key: '__proto__', value: { stringValue: 'x' } }], body: { stringValue: 'a\u0000b' } }] }] }] }),
    ];
    for (let i = 0; i < 60; i++) {
      const path = ['/v1/logs', '/v1/traces', '/v1/metrics'][i % 3]!;
      const body = shapes[i % shapes.length]!();
      const type = typeof body === 'string' ? 'application/json' : 'application/x-protobuf';
      const response = await fetch(`${otlpHttp}${path}`, { method: 'POST', headers: { 'content-type': type, 'x-api-key': key }, body });
      expect([200, 400]).toContain(response.status);
      await response.arrayBuffer();
    }
    const ok = await fetch(`${otlpHttp}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(logsJson('after-fuzz', 1)) });
    expect(ok.status).toBe(200);
  });

  test('when an OTLP/gRPC message cannot be decoded, then the call fails with INVALID_ARGUMENT naming the message type', async () => {
    const client = new Client(server.address, credentials.createInsecure());
    try {
      const error = await new Promise<ServiceError>((resolve) =>
        client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), grpcMetadata(key), (err) => resolve(err!)),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toContain('ExportTraceServiceRequest');
    } finally {
      client.close();
    }
  });

  test('when reflection lists services on the OTLP gRPC port, then the three collector services are there', async () => {
    const reflection = new ReflectionClient(`127.0.0.1:${server.vault.otlpGrpcPort}`);
    try {
      expect(await reflection.listServices()).toEqual(
        expect.arrayContaining(['opentelemetry.proto.collector.logs.v1.LogsService', 'opentelemetry.proto.collector.trace.v1.TraceService', 'opentelemetry.proto.collector.metrics.v1.MetricsService']),
      );
    } finally {
      reflection.close();
    }
  });
});

/** An OTLP/JSON logs request of `count` records. */
function logsJson(service: string, count: number): unknown {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeLogs: [{ scope: { name: 'raw' }, logRecords: Array.from({ length: count }, (_, i) => ({ timeUnixNano: String(now + BigInt(i)), body: { stringValue: `raw ${i}` } })) }],
      },
    ],
  };
}
