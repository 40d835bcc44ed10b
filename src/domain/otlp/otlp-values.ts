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

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A 64-bit integer as JSON: a number when it is one exactly, else the bigint (written as its digits). */
export function exactInteger(value: bigint): number | bigint {
  return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value;
}

/** JSON text of `value`: JSON.stringify's speed, toJsonText's exactness when a bigint is there. */
export function fastJsonText(value: JsonValue): string {
  try {
    return JSON.stringify(value);
  } catch {
    return toJsonText(value);
  }
}

/**
 * The canonical form of an attribute value, typed (a string "1", the integer
 * 1 and the double 1 differ), for event ids: faster than canonicalText on
 * the hot path of every record.
 */
export function appendAnyValue(out: string[], value: AnyValue | undefined): void {
  const inner = value?.value;
  if (inner === undefined || inner.case === undefined) {
    out.push('n;');
    return;
  }
  switch (inner.case) {
    case 'stringValue':
      out.push('s', String(inner.value.length), ':', inner.value);
      return;
    case 'boolValue':
      out.push(inner.value ? 't;' : 'f;');
      return;
    case 'intValue':
      out.push('i', inner.value.toString(), ';');
      return;
    case 'doubleValue':
      out.push('d', Object.is(inner.value, -0) ? '-0' : String(inner.value), ';');
      return;
    case 'arrayValue':
      out.push('[', String(inner.value.values.length), ':');
      for (const item of inner.value.values) appendAnyValue(out, item);
      out.push(']');
      return;
    case 'kvlistValue':
      appendKeyValues(out, inner.value.values);
      return;
    case 'bytesValue':
      out.push('y', hexOf(inner.value), ';');
      return;
  }
}

/** The canonical form of a KeyValue list, in its order. */
export function appendKeyValues(out: string[], list: readonly KeyValue[]): void {
  out.push('{', String(list.length), ':');
  for (const { key, value } of list) {
    out.push('s', String(key.length), ':', key);
    appendAnyValue(out, value);
  }
  out.push('}');
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
      return inner.value;
    case 'intValue':
      return exactInteger(inner.value);
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
