/**
 * OTLP's records as the transport decodes them (the shape of
 * @bufbuild/protobuf messages of opentelemetry/proto/...: camelCase fields,
 * 64-bit integers as bigint, bytes as Uint8Array, oneofs as {case, value},
 * absent scalars at their defaults). Only what the mapping reads is declared;
 * the decoded messages carry more, which fingerprints include.
 */

export type AnyValue = {
  readonly value:
    | { readonly case: 'stringValue'; readonly value: string }
    | { readonly case: 'boolValue'; readonly value: boolean }
    | { readonly case: 'intValue'; readonly value: bigint }
    | { readonly case: 'doubleValue'; readonly value: number }
    | { readonly case: 'arrayValue'; readonly value: { readonly values: readonly AnyValue[] } }
    | { readonly case: 'kvlistValue'; readonly value: { readonly values: readonly KeyValue[] } }
    | { readonly case: 'bytesValue'; readonly value: Uint8Array }
    | { readonly case: undefined; readonly value?: undefined };
};

export interface KeyValue {
  readonly key: string;
  readonly value?: AnyValue | undefined;
}

export interface Resource {
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface InstrumentationScope {
  readonly name: string;
  readonly version: string;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface LogRecord {
  readonly timeUnixNano: bigint;
  readonly observedTimeUnixNano: bigint;
  readonly severityNumber: number;
  readonly severityText: string;
  readonly body?: AnyValue | undefined;
  readonly attributes: readonly KeyValue[];
  readonly droppedAttributesCount?: number;
  readonly flags: number;
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly eventName: string;
}

export interface ExportLogsRequest {
  readonly resourceLogs: readonly {
    readonly resource?: Resource | undefined;
    readonly scopeLogs: readonly { readonly scope?: InstrumentationScope | undefined; readonly logRecords: readonly LogRecord[] }[];
  }[];
}

export interface SpanEvent {
  readonly timeUnixNano: bigint;
  readonly name: string;
  readonly attributes: readonly KeyValue[];
}

export interface SpanLink {
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly traceState: string;
  readonly attributes: readonly KeyValue[];
}

export interface Span {
  readonly traceId: Uint8Array;
  readonly spanId: Uint8Array;
  readonly traceState: string;
  readonly parentSpanId: Uint8Array;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: readonly KeyValue[];
  readonly events: readonly SpanEvent[];
  readonly links: readonly SpanLink[];
  readonly status?: { readonly message: string; readonly code: number } | undefined;
}

export interface ExportTraceRequest {
  readonly resourceSpans: readonly {
    readonly resource?: Resource | undefined;
    readonly scopeSpans: readonly { readonly scope?: InstrumentationScope | undefined; readonly spans: readonly Span[] }[];
  }[];
}

interface PointBase {
  readonly attributes: readonly KeyValue[];
  readonly startTimeUnixNano: bigint;
  readonly timeUnixNano: bigint;
  readonly flags: number;
}

export interface NumberDataPoint extends PointBase {
  readonly value: { readonly case: 'asDouble'; readonly value: number } | { readonly case: 'asInt'; readonly value: bigint } | { readonly case: undefined; readonly value?: undefined };
}

export interface HistogramDataPoint extends PointBase {
  readonly count: bigint;
  readonly sum?: number | undefined;
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly bucketCounts: readonly bigint[];
  readonly explicitBounds: readonly number[];
}

export interface ExponentialHistogramDataPoint extends PointBase {
  readonly count: bigint;
  readonly sum?: number | undefined;
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly scale: number;
  readonly zeroCount: bigint;
  readonly zeroThreshold: number;
  readonly positive?: { readonly offset: number; readonly bucketCounts: readonly bigint[] } | undefined;
  readonly negative?: { readonly offset: number; readonly bucketCounts: readonly bigint[] } | undefined;
}

export interface SummaryDataPoint extends PointBase {
  readonly count: bigint;
  readonly sum: number;
  readonly quantileValues: readonly { readonly quantile: number; readonly value: number }[];
}

export interface Metric {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly data:
    | { readonly case: 'gauge'; readonly value: { readonly dataPoints: readonly NumberDataPoint[] } }
    | { readonly case: 'sum'; readonly value: { readonly dataPoints: readonly NumberDataPoint[]; readonly aggregationTemporality: number; readonly isMonotonic: boolean } }
    | { readonly case: 'histogram'; readonly value: { readonly dataPoints: readonly HistogramDataPoint[]; readonly aggregationTemporality: number } }
    | { readonly case: 'exponentialHistogram'; readonly value: { readonly dataPoints: readonly ExponentialHistogramDataPoint[]; readonly aggregationTemporality: number } }
    | { readonly case: 'summary'; readonly value: { readonly dataPoints: readonly SummaryDataPoint[] } }
    | { readonly case: undefined; readonly value?: undefined };
}

export interface ExportMetricsRequest {
  readonly resourceMetrics: readonly {
    readonly resource?: Resource | undefined;
    readonly scopeMetrics: readonly { readonly scope?: InstrumentationScope | undefined; readonly metrics: readonly Metric[] }[];
  }[];
}

/** The three OTLP signals, by the name the contract's metrics and messages use. */
export type OtlpSignal = 'logs' | 'traces' | 'metrics';
