import { create, createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { descriptorSetBase64 } from '../../gen/descriptor-set';
import type { MappedRequest } from '../../domain/otlp/map-otlp';
import { decodeLogsRequest } from './decode-logs-request';
import { logsToEvents } from './logs-to-events';
import type { ExportLogsRequest, ExportMetricsRequest, ExportTraceRequest, OtlpSignal } from '../../domain/otlp/otlp-model';

/**
 * OTLP's messages, decoded at run time by @bufbuild/protobuf from the
 * descriptor set that reflection serves (third_party/proto/opentelemetry):
 * 64-bit fields come out as exact bigints, which ts-proto's generated code
 * (forceLong=number) would round.
 */
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, 'base64')));

function message(name: string): DescMessage {
  const found = registry.getMessage(name);
  if (found === undefined) throw new Error(`${name} is not in the served descriptor set: run npm run codegen`);
  return found;
}

/** One signal's collector service, its messages and what their fields are called. */
export interface OtlpSignalSchema {
  readonly signal: OtlpSignal;
  /** The gRPC service's full name. */
  readonly service: string;
  /** The OTLP/HTTP path. */
  readonly httpPath: string;
  readonly request: DescMessage;
  readonly response: DescMessage;
  /** The partial success's rejected-count field (camelCase). */
  readonly rejectedField: string;
}

const schema = (signal: OtlpSignal, pkg: string, service: string, name: string, rejectedField: string): OtlpSignalSchema => ({
  signal,
  service: `opentelemetry.proto.collector.${pkg}.v1.${service}`,
  httpPath: `/v1/${signal}`,
  request: message(`opentelemetry.proto.collector.${pkg}.v1.Export${name}ServiceRequest`),
  response: message(`opentelemetry.proto.collector.${pkg}.v1.Export${name}ServiceResponse`),
  rejectedField,
});

export const OTLP_SCHEMAS: Readonly<Record<OtlpSignal, OtlpSignalSchema>> = {
  logs: schema('logs', 'logs', 'LogsService', 'Logs', 'rejectedLogRecords'),
  traces: schema('traces', 'trace', 'TraceService', 'Trace', 'rejectedSpans'),
  metrics: schema('metrics', 'metrics', 'MetricsService', 'Metrics', 'rejectedDataPoints'),
};

/** An ExportLogsServiceRequest already mapped to events by the wire-bytes fast path (logs-to-events.ts), at its receipt. */
export class MappedLogs {
  constructor(readonly mapped: MappedRequest) {}
}

/** The decoded request of each signal. */
export interface OtlpRequests {
  logs: ExportLogsRequest;
  traces: ExportTraceRequest;
  metrics: ExportMetricsRequest;
}

/** A protobuf-encoded Export request through @bufbuild/protobuf's reflection; throws on bytes that are not one. Unknown fields are dropped (they take no part in event ids). */
export function decodeBinaryByReflection<S extends OtlpSignal>(signal: S, bytes: Uint8Array): OtlpRequests[S] {
  return fromBinary(OTLP_SCHEMAS[signal].request, bytes, { readUnknownFields: false }) as unknown as OtlpRequests[S];
}

/**
 * A protobuf-encoded Export request. Logs (the hot path) are mapped straight
 * from their bytes to events when logsToEvents takes them (receipt time:
 * now), else decoded by the hand-written decodeLogsRequest; the rest by
 * reflection.
 */
export function decodeBinary<S extends OtlpSignal>(signal: S, bytes: Uint8Array): OtlpRequests[S] | MappedLogs {
  if (signal === 'logs') {
    const mapped = logsToEvents(bytes, BigInt(Date.now()) * 1_000_000n);
    return mapped === undefined ? (decodeLogsRequest(bytes) as OtlpRequests[S]) : new MappedLogs(mapped);
  }
  return decodeBinaryByReflection(signal, bytes);
}

/**
 * An OTLP/JSON Export request (the protobuf JSON mapping, with trace and
 * span ids as hex rather than base64, as the OTLP spec says); throws on
 * anything else. Unknown fields are ignored, as the spec asks of receivers.
 */
export function decodeJson<S extends OtlpSignal>(signal: S, json: unknown): OtlpRequests[S] {
  return fromJson(OTLP_SCHEMAS[signal].request, hexIdsToBase64(json) as JsonValue, { ignoreUnknownFields: true }) as unknown as OtlpRequests[S];
}

/** The fields OTLP/JSON writes as hex, wherever they appear (spans, links, log records, exemplars). */
const HEX_ID_FIELDS = new Set(['traceId', 'trace_id', 'spanId', 'span_id', 'parentSpanId', 'parent_span_id']);
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** A copy of `json` with every hex id re-encoded as base64 for the protobuf JSON decoder; throws on an id that is not hex. */
function hexIdsToBase64(json: unknown, depth = 0): unknown {
  // Deeper than any OTLP message: the protobuf decoder refuses it too.
  if (depth > 200) throw new Error('the JSON nests too deeply');
  if (Array.isArray(json)) return json.map((item) => hexIdsToBase64(item, depth + 1));
  if (json === null || typeof json !== 'object') return json;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    let converted: unknown;
    if (HEX_ID_FIELDS.has(key) && typeof value === 'string') {
      if (!HEX.test(value)) throw new Error(`${key} must be hex (OTLP/JSON), got ${JSON.stringify(value.slice(0, 40))}`);
      converted = Buffer.from(value, 'hex').toString('base64');
    } else {
      converted = hexIdsToBase64(value, depth + 1);
    }
    Object.defineProperty(copy, key, { value: converted, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

/** An Export response: empty when nothing was rejected, else partial_success. */
function responseMessage(signal: OtlpSignal, rejected: number, errorMessage: string) {
  const { response, rejectedField } = OTLP_SCHEMAS[signal];
  const init = rejected === 0 && errorMessage === '' ? {} : { partialSuccess: { [rejectedField]: BigInt(rejected), errorMessage } };
  return create(response, init as never);
}

export function encodeResponseBinary(signal: OtlpSignal, rejected: number, errorMessage: string): Uint8Array {
  return toBinary(OTLP_SCHEMAS[signal].response, responseMessage(signal, rejected, errorMessage));
}

export function encodeResponseJson(signal: OtlpSignal, rejected: number, errorMessage: string): string {
  return JSON.stringify(toJson(OTLP_SCHEMAS[signal].response, responseMessage(signal, rejected, errorMessage)));
}
