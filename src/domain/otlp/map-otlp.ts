import { createHash } from 'node:crypto';
import type { IncomingEvent } from '../ingest/ingest-event';
import type { ExportLogsRequest, ExportMetricsRequest, ExportTraceRequest, InstrumentationScope, KeyValue, LogRecord, Metric, Resource, Span } from './otlp-model';
import { appendAnyValue, appendKeyValues, attributesOf, exactInteger, fastJsonText, hexOf, jsonNumber, rfc3339OfNanos, timestampOfNanos, type JsonValue } from './otlp-values';

/** The service_name of records whose resource names none (contract section 9). */
export const UNKNOWN_SERVICE = 'unknown_service';

/** A record the mapping refused, by its 0-based index among the request's records (log records, spans or data points). */
export interface UnmappedRecord {
  readonly index: number;
  readonly reason: string;
}

/** A record as an event: its payload is JSON text the mapping wrote (UTF-8 bytes on the logs fast path, transport/otlp/logs-to-events.ts). */
export type MappedEvent = IncomingEvent & { readonly payloadJson: string | Uint8Array };

/** A request's records as events; `recordIndexes[i]` is the record index of `events[i]`. */
export interface MappedRequest {
  readonly records: number;
  readonly events: readonly MappedEvent[];
  readonly recordIndexes: readonly number[];
  readonly unmapped: readonly UnmappedRecord[];
}

const SPAN_KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
const STATUS_CODES = ['unset', 'ok', 'error'] as const;
const TEMPORALITIES = ['unspecified', 'delta', 'cumulative'] as const;

/** What every record of one resource and scope shares. */
export class Origin {
  readonly serviceName: string;
  /** `,"resource":{...},"scope":{...}}`: how every payload of this origin ends. */
  readonly payloadTail: string;
  /** The resource's and scope's fingerprint, which every record's event_id includes. */
  readonly digest: Buffer;

  constructor(resource: Resource | undefined, scope: InstrumentationScope | undefined) {
    const attributes = resource?.attributes ?? [];
    this.serviceName = serviceNameOf(attributes);
    this.payloadTail = `,"resource":${fastJsonText(attributesOf(attributes))},"scope":${fastJsonText({ name: scope?.name ?? '', version: scope?.version ?? '' })}}`;
    const out: string[] = [];
    appendKeyValues(out, attributes);
    out.push(String(resource?.droppedAttributesCount ?? 0), ';');
    out.push(String(scope?.name.length ?? 0), ':', scope?.name ?? '', String(scope?.version.length ?? 0), ':', scope?.version ?? '');
    appendKeyValues(out, scope?.attributes ?? []);
    out.push(String(scope?.droppedAttributesCount ?? 0), ';');
    this.digest = createHash('sha256').update(out.join('')).digest();
  }

  /** A deterministic event_id (see otlpEventId) of a record whose own time is `timeNanos` (0 when it has none). */
  idOf(kind: string, canonical: string, timeNanos: bigint): string {
    return otlpEventId(nanosHex(timeNanos), createHash('sha256').update(kind).update(this.digest).update(canonical).digest('hex'));
  }
}

/**
 * An OTLP log's or data point's event_id, 40 lowercase hex digits: the
 * record's own time (its fixed64 nanoseconds as 16 hex digits; zeros when
 * the record carries none, never the time it arrived) then the first 24
 * (96 bits) of the sha256 over the signal, the resource, the scope and the
 * whole record (`digestHex`). Deterministic from the record alone, as
 * section 9 of the contract asks; led by the time so that a batch's ids land
 * next to each other in the (tenant_id, event_id) unique index, as
 * time-ordered ids do, instead of on random pages of it; no longer than it
 * needs to be, since every byte of it is stored twice (row and index).
 * Records of one nanosecond collide only if 96 bits of their digests do
 * (docs/performance.md, "OTLP").
 */
export function otlpEventId(timeHex: string, digestHex: string): string {
  return timeHex + digestHex.slice(0, OTLP_ID_DIGEST_DIGITS);
}

/** Hex digits of the sha256 an OTLP event_id keeps after its 16 of time. */
export const OTLP_ID_DIGEST_DIGITS = 24;

/** A fixed64 count of nanoseconds as 16 hex digits. */
export function nanosHex(nanos: bigint): string {
  return nanos.toString(16).padStart(16, '0');
}

/** The first non-zero of a record's times, else 0: the time its event_id starts with. */
function ownTime(...candidates: bigint[]): bigint {
  return candidates.find((nanos) => nanos > 0n) ?? 0n;
}

function serviceNameOf(attributes: readonly KeyValue[]): string {
  let name: string | undefined;
  for (const { key, value } of attributes) {
    if (key === 'service.name') name = value?.value.case === 'stringValue' ? value.value.value : undefined;
  }
  return name === undefined || name === '' ? UNKNOWN_SERVICE : name;
}

/** The timestamp of a record: the first non-zero of `candidates`, else the receipt time. */
function timestampOf(receivedAtNanos: bigint, ...candidates: bigint[]): IncomingEvent['timestamp'] {
  return timestampOfNanos(candidates.find((nanos) => nanos > 0n) ?? receivedAtNanos);
}

/** An event whose payload is `fields` (a non-empty object) plus the origin's resource and scope. */
function event(origin: Origin, eventType: string, eventId: string, timestamp: IncomingEvent['timestamp'], fields: { readonly [key: string]: JsonValue }): MappedEvent {
  const text = fastJsonText(fields);
  return { eventId, timestamp, eventType, serviceName: origin.serviceName, payloadJson: text.slice(0, -1) + origin.payloadTail };
}

class Collector {
  records = 0;
  readonly events: MappedEvent[] = [];
  readonly recordIndexes: number[] = [];
  readonly unmapped: UnmappedRecord[] = [];

  add(map: () => MappedEvent | string): void {
    const index = this.records++;
    let mapped: MappedEvent | string;
    try {
      mapped = map();
    } catch (error) {
      mapped = `cannot be mapped: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (typeof mapped === 'string') {
      this.unmapped.push({ index, reason: mapped });
    } else {
      this.events.push(mapped);
      this.recordIndexes.push(index);
    }
  }

  result(): MappedRequest {
    return { records: this.records, events: this.events, recordIndexes: this.recordIndexes, unmapped: this.unmapped };
  }
}

/** An ExportLogsServiceRequest's log records as events (event_type `log`). */
export function mapLogs(request: ExportLogsRequest, receivedAtNanos: bigint): MappedRequest {
  const out = new Collector();
  for (const resourceLogs of request.resourceLogs) {
    for (const scopeLogs of resourceLogs.scopeLogs) {
      const origin = new Origin(resourceLogs.resource, scopeLogs.scope);
      for (const record of scopeLogs.logRecords) out.add(() => mapLogRecord(origin, record, receivedAtNanos));
    }
  }
  return out.result();
}

/** Every field of a log record, typed, in field-number order: what its event_id hashes. */
function logCanonical(record: LogRecord): string {
  const out: string[] = [record.timeUnixNano.toString(), ';', record.observedTimeUnixNano.toString(), ';', String(record.severityNumber), ';', String(record.severityText.length), ':', record.severityText];
  appendAnyValue(out, record.body);
  appendKeyValues(out, record.attributes);
  out.push(String(record.droppedAttributesCount ?? 0), ';', String(record.flags), ';', hexOf(record.traceId), ';', hexOf(record.spanId), ';', String(record.eventName.length), ':', record.eventName);
  return out.join('');
}

function mapLogRecord(origin: Origin, record: LogRecord, receivedAtNanos: bigint): MappedEvent {
  return event(origin, 'log', origin.idOf('log', logCanonical(record), ownTime(record.timeUnixNano, record.observedTimeUnixNano)), timestampOf(receivedAtNanos, record.timeUnixNano, record.observedTimeUnixNano), {
    attributes: attributesOf(record.attributes),
    body: record.body === undefined ? null : jsonBody(record.body),
    severity_text: record.severityText,
    severity_number: record.severityNumber,
    trace_id: hexOf(record.traceId),
    span_id: hexOf(record.spanId),
    flags: record.flags,
  });
}

function jsonBody(body: NonNullable<LogRecord['body']>): JsonValue {
  return attributesOf([{ key: 'body', value: body }])['body'] ?? null;
}

/** An ExportTraceServiceRequest's spans as events (event_type `span`, event_id `<trace_id>:<span_id>`). */
export function mapTraces(request: ExportTraceRequest): MappedRequest {
  const out = new Collector();
  for (const resourceSpans of request.resourceSpans) {
    for (const scopeSpans of resourceSpans.scopeSpans) {
      const origin = new Origin(resourceSpans.resource, scopeSpans.scope);
      for (const span of scopeSpans.spans) out.add(() => mapSpan(origin, span));
    }
  }
  return out.result();
}

function mapSpan(origin: Origin, span: Span): MappedEvent | string {
  const idProblem = checkId('trace_id', span.traceId, 16) ?? checkId('span_id', span.spanId, 8);
  if (idProblem !== undefined) return idProblem;
  if (span.parentSpanId.byteLength !== 0 && span.parentSpanId.byteLength !== 8) return `parent_span_id must be empty or 8 bytes, not ${span.parentSpanId.byteLength}`;
  if (span.startTimeUnixNano === 0n) return 'start_time_unix_nano is required (the event timestamp)';
  const traceId = hexOf(span.traceId);
  const spanId = hexOf(span.spanId);
  const durationNanos = span.endTimeUnixNano - span.startTimeUnixNano;
  return event(origin, 'span', `${traceId}:${spanId}`, timestampOfNanos(span.startTimeUnixNano), {
    attributes: attributesOf(span.attributes),
    name: span.name,
    kind: SPAN_KINDS[span.kind] ?? 'unspecified',
    trace_id: traceId,
    span_id: spanId,
    parent_span_id: hexOf(span.parentSpanId),
    start_time: rfc3339OfNanos(span.startTimeUnixNano),
    end_time: rfc3339OfNanos(span.endTimeUnixNano),
    duration_ms: Number(durationNanos) / 1e6,
    status_code: STATUS_CODES[span.status?.code ?? 0] ?? 'unset',
    status_message: span.status?.message ?? '',
    events: span.events.map((spanEvent) => ({ name: spanEvent.name, time: rfc3339OfNanos(spanEvent.timeUnixNano), attributes: attributesOf(spanEvent.attributes) })),
    links: span.links.map((link) => ({ trace_id: hexOf(link.traceId), span_id: hexOf(link.spanId), trace_state: link.traceState, attributes: attributesOf(link.attributes) })),
  });
}

function checkId(field: string, id: Uint8Array, bytes: number): string | undefined {
  if (id.byteLength !== bytes) return `${field} must be ${bytes} bytes, not ${id.byteLength}`;
  if (id.every((byte) => byte === 0)) return `${field} must not be all zeros`;
  return undefined;
}

/** An ExportMetricsServiceRequest's data points as events (event_type `metric`), one per point. */
export function mapMetrics(request: ExportMetricsRequest, receivedAtNanos: bigint): MappedRequest {
  const out = new Collector();
  for (const resourceMetrics of request.resourceMetrics) {
    for (const scopeMetrics of resourceMetrics.scopeMetrics) {
      const origin = new Origin(resourceMetrics.resource, scopeMetrics.scope);
      for (const metric of scopeMetrics.metrics) mapMetric(out, origin, metric, receivedAtNanos);
    }
  }
  return out.result();
}

/** A data point's identity (contract section 9): its metric's name, its attributes and its time. */
function metricCanonical(name: string, attributes: readonly KeyValue[], timeUnixNano: bigint): string {
  const out: string[] = [String(name.length), ':', name];
  appendKeyValues(out, attributes);
  out.push(timeUnixNano.toString(), ';');
  return out.join('');
}

function mapMetric(out: Collector, origin: Origin, metric: Metric, receivedAtNanos: bigint): void {
  const point = (
    kind: string,
    base: { readonly attributes: readonly KeyValue[]; readonly timeUnixNano: bigint; readonly startTimeUnixNano: bigint },
    values: { readonly [key: string]: JsonValue },
  ): void =>
    out.add(() =>
      event(origin, 'metric', origin.idOf('metric', metricCanonical(metric.name, base.attributes, base.timeUnixNano), base.timeUnixNano), timestampOf(receivedAtNanos, base.timeUnixNano), {
        attributes: attributesOf(base.attributes),
        name: metric.name,
        description: metric.description,
        unit: metric.unit,
        kind,
        ...(base.startTimeUnixNano > 0n ? { start_time: rfc3339OfNanos(base.startTimeUnixNano) } : {}),
        ...values,
      }),
    );
  const optional = (key: string, value: number | undefined): { readonly [key: string]: JsonValue } => (value === undefined ? {} : { [key]: jsonNumber(value) });
  const data = metric.data;
  switch (data.case) {
    case 'gauge':
    case 'sum': {
      const extra: { readonly [key: string]: JsonValue } = data.case === 'sum' ? { is_monotonic: data.value.isMonotonic, temporality: TEMPORALITIES[data.value.aggregationTemporality] ?? 'unspecified' } : {};
      for (const p of data.value.dataPoints) {
        const value = p.value.case === 'asDouble' ? jsonNumber(p.value.value) : p.value.case === 'asInt' ? exactInteger(p.value.value) : null;
        point(data.case, p, { value, ...extra });
      }
      return;
    }
    case 'histogram': {
      const temporality = TEMPORALITIES[data.value.aggregationTemporality] ?? 'unspecified';
      for (const p of data.value.dataPoints) {
        point('histogram', p, {
          count: exactInteger(p.count),
          ...optional('sum', p.sum),
          ...optional('min', p.min),
          ...optional('max', p.max),
          bucket_counts: p.bucketCounts.map(exactInteger),
          explicit_bounds: p.explicitBounds.map(jsonNumber),
          temporality,
        });
      }
      return;
    }
    case 'exponentialHistogram': {
      const temporality = TEMPORALITIES[data.value.aggregationTemporality] ?? 'unspecified';
      const buckets = (side: { readonly offset: number; readonly bucketCounts: readonly bigint[] } | undefined): JsonValue =>
        side === undefined ? null : { offset: side.offset, bucket_counts: side.bucketCounts.map(exactInteger) };
      for (const p of data.value.dataPoints) {
        point('exponential_histogram', p, {
          count: exactInteger(p.count),
          ...optional('sum', p.sum),
          ...optional('min', p.min),
          ...optional('max', p.max),
          scale: p.scale,
          zero_count: exactInteger(p.zeroCount),
          zero_threshold: jsonNumber(p.zeroThreshold),
          positive: buckets(p.positive),
          negative: buckets(p.negative),
          temporality,
        });
      }
      return;
    }
    case 'summary':
      for (const p of data.value.dataPoints) {
        point('summary', p, {
          count: exactInteger(p.count),
          sum: jsonNumber(p.sum),
          quantiles: p.quantileValues.map((q) => ({ quantile: jsonNumber(q.quantile), value: jsonNumber(q.value) })),
        });
      }
      return;
    default:
      return;
  }
}
