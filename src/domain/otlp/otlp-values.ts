import type { Hash } from 'node:crypto';
import type { AnyValue, KeyValue } from './otlp-model';

/** A JSON value whose integers may be bigints (written as exact digits). */
export type JsonValue = string | number | bigint | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * JSON text of `value`, bigints written as their exact digits (JSON numbers
 * have no size limit; PostgreSQL's jsonb keeps them exactly). Numbers that
 * JSON cannot hold (NaN, ±Infinity) never get here: jsonValueOf writes them
 * as strings.
 */
export function toJsonText(value: JsonValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'number':
    case 'boolean':
      return String(value);
    default:
      break;
  }
  if (Array.isArray(value)) return `[${(value as readonly JsonValue[]).map(toJsonText).join(',')}]`;
  const parts: string[] = [];
  for (const [key, item] of Object.entries(value as { readonly [key: string]: JsonValue })) parts.push(`${JSON.stringify(key)}:${toJsonText(item)}`);
  return `{${parts.join(',')}}`;
}

/** A double as JSON: itself, or OTLP/JSON's string for the values JSON has no number for. */
export function jsonNumber(value: number): JsonValue {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/** An attribute value as JSON (contract section 9): kvlist as an object, bytes as base64, an empty value as null. */
export function jsonValueOf(value: AnyValue | undefined): JsonValue {
  const inner = value?.value;
  if (inner === undefined) return null;
  switch (inner.case) {
    case 'stringValue':
    case 'boolValue':
    case 'intValue':
      return inner.value;
    case 'doubleValue':
      return jsonNumber(inner.value);
    case 'arrayValue':
      return inner.value.values.map(jsonValueOf);
    case 'kvlistValue':
      return attributesOf(inner.value.values);
    case 'bytesValue':
      return Buffer.from(inner.value).toString('base64');
    default:
      return null;
  }
}

/** Attributes as one JSON object; a key repeated keeps its last value. */
export function attributesOf(list: readonly KeyValue[]): { readonly [key: string]: JsonValue } {
  const object: Record<string, JsonValue> = {};
  for (const { key, value } of list) {
    // A key named __proto__ must stay an own property.
    Object.defineProperty(object, key, { value: jsonValueOf(value), enumerable: true, writable: true, configurable: true });
  }
  return object;
}

/** Lowercase hex of an id (trace_id, span_id). */
export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** Nanoseconds since the epoch as RFC 3339 in UTC with all nine fractional digits. */
export function rfc3339OfNanos(nanos: bigint): string {
  const seconds = nanos / NANOS_PER_SECOND;
  const fraction = nanos % NANOS_PER_SECOND;
  const date = new Date(Number(seconds) * 1000);
  if (Number.isNaN(date.getTime())) return nanos.toString();
  return `${date.toISOString().slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}

/** Nanoseconds since the epoch as the {seconds, nanos} an incoming event carries. */
export function timestampOfNanos(nanos: bigint): { seconds: number; nanos: number } {
  return { seconds: Number(nanos / NANOS_PER_SECOND), nanos: Number(nanos % NANOS_PER_SECOND) };
}

/**
 * Feeds a decoded message to `hash` in a canonical form: every field in name
 * order (defaults included, since the decoders fill them in, so that the
 * protobuf and the JSON encodings of one record hash alike), each value
 * tagged by its type. Keys starting with `$` (the runtime's type name,
 * unknown fields) are left out.
 */
export function hashCanonical(hash: Hash, value: unknown): void {
  if (value === null || value === undefined) {
    hash.update('n;');
    return;
  }
  switch (typeof value) {
    case 'string':
      hash.update(`s${Buffer.byteLength(value)}:`).update(value);
      return;
    case 'bigint':
      hash.update(`i${value};`);
      return;
    case 'number':
      hash.update(`d${Object.is(value, -0) ? '-0' : String(value)};`);
      return;
    case 'boolean':
      hash.update(value ? 't;' : 'f;');
      return;
    default:
      break;
  }
  if (value instanceof Uint8Array) {
    hash.update(`b${value.byteLength}:`).update(value);
    return;
  }
  if (Array.isArray(value)) {
    hash.update(`[${value.length}:`);
    for (const item of value) hashCanonical(hash, item);
    hash.update(']');
    return;
  }
  const keys = Object.keys(value as object)
    .filter((key) => !key.startsWith('$'))
    .sort();
  hash.update('{');
  for (const key of keys) {
    hash.update(`k${key.length}:${key}`);
    hashCanonical(hash, (value as Record<string, unknown>)[key]);
  }
  hash.update('}');
}
