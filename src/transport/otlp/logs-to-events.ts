import { hash } from 'node:crypto';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { nanosHex, Origin, otlpEventId, type MappedEvent, type MappedRequest } from '../../domain/otlp/map-otlp';
import type { InstrumentationScope, Resource } from '../../domain/otlp/otlp-model';
import type { WrittenPayload } from '../../domain/ingest/ingest-event';
import { MAX_SAFE_INTEGER_DIGITS, writeDecimal } from '../../domain/ingest/decimal-digits';
import { HEX_DIGITS, writeControlEscape } from '../../domain/ingest/json-control-escape';
import { utf8SequenceLength } from '../../domain/ingest/utf8-sequence';
import { readResource, readScope } from './decode-logs-request';

/**
 * The hot path of OTLP ingest: an ExportLogsServiceRequest's log records
 * written straight from their wire bytes as the events mapLogs makes of the
 * decoded request (contract section 9), byte for byte: the same payload
 * JSON text (as UTF-8 bytes, which validation scans and COPY writes as they
 * are), the same event_id (the record's time, then sha256 over the same
 * canonical form, written as bytes: otlpEventId), the same timestamp. No LogRecord, KeyValue or AnyValue object,
 * no attribute object and no JSON.stringify on the way; only each
 * resource and scope is decoded as an object (once per scope, by
 * decode-logs-request's readers, for map-otlp's Origin).
 *
 * It gives up (undefined) on whatever is not the common shape, and the
 * caller then decodes and maps the request the general way, which has the
 * exact semantics and errors for every oddity: malformed or truncated
 * bytes, unknown fields, a field of an unexpected wire type, a resource,
 * scope, body or attribute value given twice (protobuf merges those),
 * a key repeated in one attribute list, strings that are not UTF-8,
 * negative or over-long varints where a uint32 is expected, times at or past
 * 2^53 ns (the year 2255), values nesting past MAX_LEVELS.
 * test/unit/otlp-decoders.test.ts holds it to decodeLogsRequest + mapLogs.
 */
export function logsToEvents(bytes: Uint8Array, receivedAtNanos: bigint): MappedRequest | undefined {
  try {
    return new LogsWriter(bytes, receivedAtNanos).request();
  } catch {
    // GIVE_UP, or bytes the resource's or scope's reader refused: the general path says what is wrong.
    return undefined;
  }
}

/** Attribute values nesting deeper than this take the general path. */
const MAX_LEVELS = 32;

const GIVE_UP = Symbol('give up');
function giveUp(): never {
  throw GIVE_UP;
}

const QUOTE = 0x22;
/** The bytes a JSON string holds as they are: printable ASCII but the quote and the backslash. */
const PLAIN = new Uint8Array(256).map((_, byte) => (byte >= 0x20 && byte < 0x80 && byte !== 0x22 && byte !== 0x5c ? 1 : 0));
const BACKSLASH = 0x5c;
const NANOS_PER_SECOND = 1_000_000_000n;

/** Each byte value's two hex digits. */
const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/**
 * A 32-bit value's 8 hex digits. Four table lookups: a third of the time
 * toString(16).padStart(8, '0') takes, which for a value past 2^31 (half of
 * a time's low halves) is V8's slow path for doubles (0.34 -> 0.07 us in one
 * process).
 */
function uint32Hex(value: number): string {
  return BYTE_HEX[value >>> 24]! + BYTE_HEX[(value >>> 16) & 255]! + BYTE_HEX[(value >>> 8) & 255]! + BYTE_HEX[value & 255]!;
}

const DOUBLE = new Float64Array(1);
const DOUBLE_BYTES = new Uint8Array(DOUBLE.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A growable byte buffer. */
class Out {
  buf: Buffer;
  len = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  reserve(bytes: number): void {
    if (this.len + bytes <= this.buf.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + bytes));
    this.buf.copy(larger, 0, 0, this.len);
    this.buf = larger;
  }

  byte(value: number): void {
    if (this.len === this.buf.length) this.reserve(1);
    this.buf[this.len++] = value;
  }

  ascii(text: string): void {
    this.reserve(text.length);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < text.length; i++) buf[len++] = text.charCodeAt(i);
    this.len = len;
  }

  copy(from: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.reserve(length);
    if (length > 64) this.buf.set(from.subarray(start, end), this.len);
    else {
      const buf = this.buf;
      let len = this.len;
      for (let i = start; i < end; i++) buf[len++] = from[i]!;
    }
    this.len += length;
  }

  /** Bytes that are already JSON. */
  literal(bytes: Buffer): void {
    this.reserve(bytes.length);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < bytes.length; i++) buf[len++] = bytes[i]!;
    this.len = len;
  }

  /** A non-negative safe integer's decimal digits, without a string. */
  uint(value: number): void {
    this.reserve(MAX_SAFE_INTEGER_DIGITS);
    this.len = writeDecimal(this.buf, this.len, value);
  }

  /** A fixed64 split by splitNanos, as its decimal digits: `seconds` (as is) then `nanos` (nine digits, zero-padded) when seconds > 0. */
  fixed64Digits(seconds: number, nanos: number): void {
    if (seconds === 0) {
      this.uint(nanos);
      return;
    }
    this.uint(seconds);
    this.reserve(9);
    const buf = this.buf;
    let rest = nanos;
    for (let i = this.len + 8; i >= this.len; i--) {
      buf[i] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    this.len += 9;
  }

  hex(from: Uint8Array, start: number, end: number): void {
    this.reserve((end - start) * 2);
    const buf = this.buf;
    let len = this.len;
    for (let i = start; i < end; i++) {
      const byte = from[i]!;
      buf[len++] = HEX_DIGITS.charCodeAt(byte >> 4);
      buf[len++] = HEX_DIGITS.charCodeAt(byte & 15);
    }
    this.len = len;
  }
}

/** The log payload's keys as bytes, in its order. */
const KEYS = {
  ATTRIBUTES: Buffer.from('{"attributes":'),
  BODY: Buffer.from(',"body":'),
  SEVERITY_TEXT: Buffer.from(',"severity_text":'),
  SEVERITY_NUMBER: Buffer.from(',"severity_number":'),
  TRACE_ID: Buffer.from(',"trace_id":"'),
  SPAN_ID: Buffer.from('","span_id":"'),
  FLAGS: Buffer.from('","flags":'),
} as const;

const LOG_KIND = Buffer.from('log');

class LogsWriter {
  private pos = 0;
  private readonly receivedSeconds: number;
  private readonly receivedNanos: number;
  /** Every payload of the request, one after another; events hold views into it. */
  private readonly json: Out;
  /** 'log', the origin's digest and the record's canonical form: what its event_id hashes. */
  private readonly canonical = new Out(1024);
  /** A body's JSON, written before it is placed after the attributes. */
  private readonly body = new Out(256);
  private records = 0;
  /** What the current scope's payload tail adds to a payload's WrittenPayload: undefined when it cannot be vouched for. */
  private tailWritten: { readonly depth: number; readonly copyEscapes: boolean } | undefined;
  /** The current record's deepest level, and whether its payload can be vouched for (no \u0000, no double) and has an escape. */
  private deepest = 0;
  private vouched = true;
  private escaped = false;
  private readonly events: MappedEvent[] = [];
  private readonly recordIndexes: number[] = [];
  /** timeHex's last high half and its 8 hex digits. */
  private lastHi = -1;
  private lastHiHex = '';
  /** The current record's attribute ranges (start, end), reused from record to record. */
  private readonly recordAttributes: number[] = [];
  /** The key ranges of the KeyValue lists being written, outer lists' first: each list truncates it back to where it found it. */
  private readonly keyRanges: number[] = [];

  constructor(
    private readonly bytes: Uint8Array,
    receivedAtNanos: bigint,
  ) {
    this.receivedSeconds = Number(receivedAtNanos / NANOS_PER_SECOND);
    this.receivedNanos = Number(receivedAtNanos % NANOS_PER_SECOND);
    this.json = new Out(bytes.length * 2 + 4096);
  }

  request(): MappedRequest {
    const end = this.bytes.length;
    while (this.pos < end) {
      if (this.varint() !== 0x0a) giveUp();
      const fieldEnd = this.delimitedEnd(end);
      this.resourceLogs(fieldEnd);
    }
    return { records: this.records, events: this.events, recordIndexes: this.recordIndexes, unmapped: [] };
  }

  /**
   * ResourceLogs and ScopeLogs have one shape: field 1 the resource or
   * scope (once, else give up), field 2 the repeated children, field 3 a
   * schema_url (ignored). Gives field 1's range ([-1, 0] when absent) and the
   * children's ranges.
   */
  private container(end: number): { readonly headAt: number; readonly headEnd: number; readonly children: number[] } {
    let headAt = -1;
    let headEnd = 0;
    const children: number[] = [];
    while (this.pos < end) {
      const tag = this.varint();
      const fieldEnd = this.delimitedEnd(end);
      if (tag === 0x0a) {
        if (headAt >= 0) giveUp();
        headAt = this.pos;
        headEnd = fieldEnd;
      } else if (tag === 0x12) children.push(this.pos, fieldEnd);
      else if (tag !== 0x1a) giveUp();
      this.pos = fieldEnd;
    }
    return { headAt, headEnd, children };
  }

  private resourceLogs(end: number): void {
    const { headAt, headEnd, children } = this.container(end);
    const resource = headAt < 0 ? undefined : this.decoded((r) => readResource(r, headEnd, undefined), headAt);
    for (let i = 0; i < children.length; i += 2) {
      this.pos = children[i]!;
      this.scopeLogs(resource, children[i + 1]!);
    }
    this.pos = end;
  }

  private scopeLogs(resource: Resource | undefined, end: number): void {
    const { headAt, headEnd, children: records } = this.container(end);
    const scope: InstrumentationScope | undefined = headAt < 0 ? undefined : this.decoded((r) => readScope(r, headEnd, undefined), headAt);
    const origin = new Origin(resource, scope);
    const tail = Buffer.from(origin.payloadTail);
    this.tailWritten = writtenTail(origin.payloadTail);
    for (let i = 0; i < records.length; i += 2) {
      this.pos = records[i]!;
      this.logRecord(origin, tail, records[i + 1]!);
    }
    this.pos = end;
  }

  /** A resource or scope (once per scope: not the hot path) by decode-logs-request's readers. */
  private decoded<T>(read: (r: BinaryReader) => T, at: number): T {
    const reader = new BinaryReader(this.bytes);
    reader.pos = at;
    return read(reader);
  }

  private logRecord(origin: Origin, tail: Buffer, end: number): void {
    const bytes = this.bytes;
    let timeLo = 0;
    let timeHi = 0;
    let observedLo = 0;
    let observedHi = 0;
    let severityNumber = 0;
    let severityAt = 0;
    let severityEnd = 0;
    let bodyAt = -1;
    let bodyEnd = 0;
    const attributes = this.recordAttributes;
    attributes.length = 0;
    let dropped = 0;
    let flags = 0;
    let traceAt = 0;
    let traceEnd = 0;
    let spanAt = 0;
    let spanEnd = 0;
    let nameAt = 0;
    let nameEnd = 0;
    while (this.pos < end) {
      const tag = this.varint();
      switch (tag) {
        case 0x09:
          timeLo = this.fixed32(end);
          timeHi = this.fixed32(end);
          break;
        case 0x59:
          observedLo = this.fixed32(end);
          observedHi = this.fixed32(end);
          break;
        case 0x10:
          severityNumber = this.uint31();
          break;
        case 0x38:
          dropped = this.uint31();
          break;
        case 0x45:
          flags = this.fixed32(end);
          break;
        default: {
          const fieldEnd = this.delimitedEnd(end);
          if (tag === 0x1a) {
            severityAt = this.pos;
            severityEnd = fieldEnd;
          } else if (tag === 0x2a) {
            if (bodyAt >= 0) giveUp();
            bodyAt = this.pos;
            bodyEnd = fieldEnd;
          } else if (tag === 0x32) attributes.push(this.pos, fieldEnd);
          else if (tag === 0x4a) {
            traceAt = this.pos;
            traceEnd = fieldEnd;
          } else if (tag === 0x52) {
            spanAt = this.pos;
            spanEnd = fieldEnd;
          } else if (tag === 0x62) {
            nameAt = this.pos;
            nameEnd = fieldEnd;
          } else giveUp();
          this.pos = fieldEnd;
        }
      }
    }
    const json = this.json;
    const canonical = this.canonical;
    const start = json.len;

    this.deepest = 1;
    this.vouched = true;
    this.escaped = false;
    // The canonical form (map-otlp's logCanonical), after the kind and the origin's digest: the body before the attributes.
    canonical.len = 0;
    canonical.copy(LOG_KIND, 0, LOG_KIND.length);
    canonical.copy(origin.digest, 0, origin.digest.length);
    // The times without a BigInt: seconds and nanoseconds as numbers (exact for any fixed64).
    let seconds = this.receivedSeconds;
    let nanos = this.receivedNanos;
    const hasTime = timeLo !== 0 || timeHi !== 0;
    const hasObserved = observedLo !== 0 || observedHi !== 0;
    if (hasTime) canonical.fixed64Digits(splitNanos(timeLo, timeHi), SPLIT_NANOS[0]!);
    else canonical.byte(0x30);
    canonical.byte(0x3b);
    if (hasTime) {
      seconds = SPLIT_NANOS[1]!;
      nanos = SPLIT_NANOS[0]!;
    }
    if (hasObserved) canonical.fixed64Digits(splitNanos(observedLo, observedHi), SPLIT_NANOS[0]!);
    else canonical.byte(0x30);
    canonical.byte(0x3b);
    if (hasObserved && !hasTime) {
      seconds = SPLIT_NANOS[1]!;
      nanos = SPLIT_NANOS[0]!;
    }
    canonical.uint(severityNumber);
    canonical.byte(0x3b);
    canonical.uint(this.stringUnits(severityAt, severityEnd));
    canonical.byte(0x3a);
    canonical.copy(bytes, severityAt, severityEnd);
    // The payload has the body after the attributes: it is written aside first.
    const body = this.body;
    body.len = 0;
    if (bodyAt < 0) {
      body.ascii('null');
      canonical.ascii('n;');
    } else {
      this.pos = bodyAt;
      this.anyValue(bodyEnd, body, 1);
    }

    json.literal(KEYS.ATTRIBUTES);
    this.keyValues(attributes, json, 1);
    json.literal(KEYS.BODY);
    json.copy(body.buf, 0, body.len);
    json.literal(KEYS.SEVERITY_TEXT);
    this.string(severityAt, severityEnd, json);
    json.literal(KEYS.SEVERITY_NUMBER);
    json.uint(severityNumber);
    json.literal(KEYS.TRACE_ID);
    json.hex(bytes, traceAt, traceEnd);
    json.literal(KEYS.SPAN_ID);
    json.hex(bytes, spanAt, spanEnd);
    json.literal(KEYS.FLAGS);
    json.uint(flags);
    json.copy(tail, 0, tail.length);

    canonical.uint(dropped);
    canonical.byte(0x3b);
    canonical.uint(flags);
    canonical.byte(0x3b);
    canonical.hex(bytes, traceAt, traceEnd);
    canonical.byte(0x3b);
    canonical.hex(bytes, spanAt, spanEnd);
    canonical.byte(0x3b);
    canonical.uint(this.stringUnits(nameAt, nameEnd));
    canonical.byte(0x3a);
    canonical.copy(bytes, nameAt, nameEnd);

    this.recordIndexes.push(this.records++);
    this.events.push({
      eventId: otlpEventId(hasTime ? this.timeHex(timeLo, timeHi) : hasObserved ? this.timeHex(observedLo, observedHi) : NO_TIME_HEX, hash('sha256', canonical.buf.subarray(0, canonical.len), 'hex')),
      timestamp: { seconds, nanos },
      eventType: 'log',
      serviceName: origin.serviceName,
      payloadJson: json.buf.subarray(start, json.len),
      payloadJsonWritten: this.written(),
    });
    this.pos = end;
  }

  /** nanosHex of a fixed64 from its two 32-bit halves (unsigned), without a BigInt; the high half's digits kept from the record before (they change every 2^32 ns, about 4.3 s). */
  private timeHex(lo: number, hi: number): string {
    if (hi !== this.lastHi) {
      this.lastHi = hi;
      this.lastHiHex = uint32Hex(hi);
    }
    return this.lastHiHex + uint32Hex(lo);
  }

  /** The record's WrittenPayload (undefined: let validation scan it): the payload object, its attributes and values up to the deepest level, the tail's nesting. */
  private written(): WrittenPayload | undefined {
    const tail = this.tailWritten;
    if (!this.vouched || tail === undefined) return undefined;
    return writtenPayload(Math.max(this.deepest + 1, tail.depth), this.escaped || tail.copyEscapes);
  }

  /**
   * A KeyValue list (`ranges`: start and end of each) as a JSON object to
   * `json`, and its canonical form (appendKeyValues) to the canonical form,
   * when it is written for a record's attributes (level 1) or a kvlist.
   */
  private keyValues(ranges: readonly number[], json: Out, level: number): void {
    if (level > MAX_LEVELS) giveUp();
    if (level > this.deepest) this.deepest = level;
    const bytes = this.bytes;
    const count = ranges.length / 2;
    const canonical = this.canonical;
    canonical.byte(0x7b);
    canonical.uint(count);
    canonical.byte(0x3a);
    json.byte(0x7b);
    const keys = this.keyRanges;
    const firstKey = keys.length;
    for (let i = 0; i < ranges.length; i += 2) {
      const end = ranges[i + 1]!;
      this.pos = ranges[i]!;
      let keyAt = 0;
      let keyEnd = 0;
      let valueAt = -1;
      let valueEnd = 0;
      let seenKey = false;
      while (this.pos < end) {
        const tag = this.varint();
        const fieldEnd = this.delimitedEnd(end);
        if (tag === 0x0a && !seenKey) {
          seenKey = true;
          keyAt = this.pos;
          keyEnd = fieldEnd;
        } else if (tag === 0x12 && valueAt < 0) {
          valueAt = this.pos;
          valueEnd = fieldEnd;
        } else giveUp();
        this.pos = fieldEnd;
      }
      // A key repeated in one list: the general path keeps the last value where the first stood.
      for (let k = firstKey; k < keys.length; k += 2) if (sameBytes(bytes, keys[k]!, keys[k + 1]!, keyAt, keyEnd)) giveUp();
      keys.push(keyAt, keyEnd);
      if (i > 0) json.byte(0x2c);
      const units = this.string(keyAt, keyEnd, json);
      json.byte(0x3a);
      canonical.byte(0x73);
      canonical.uint(units);
      canonical.byte(0x3a);
      canonical.copy(bytes, keyAt, keyEnd);
      if (valueAt < 0) {
        json.ascii('null');
        canonical.ascii('n;');
      } else {
        this.pos = valueAt;
        this.anyValue(valueEnd, json, level);
      }
    }
    keys.length = firstKey;
    json.byte(0x7d);
    canonical.byte(0x7d);
  }

  /** An AnyValue up to `end` as JSON (otlp-values' jsonValueOf) to `json`, and its canonical form (appendAnyValue). */
  private anyValue(end: number, json: Out, level: number): void {
    const canonical = this.canonical;
    if (this.pos === end) {
      json.ascii('null');
      canonical.ascii('n;');
      return;
    }
    const tag = this.varint();
    switch (tag) {
      case 0x0a: {
        const fieldEnd = this.delimitedEnd(end);
        const at = this.pos;
        const units = this.string(at, fieldEnd, json);
        canonical.byte(0x73);
        canonical.uint(units);
        canonical.byte(0x3a);
        canonical.copy(this.bytes, at, fieldEnd);
        this.pos = fieldEnd;
        break;
      }
      case 0x10: {
        const value = this.varint64();
        const yes = value !== 0;
        json.ascii(yes ? 'true' : 'false');
        canonical.ascii(yes ? 't;' : 'f;');
        break;
      }
      case 0x18: {
        const at = json.len;
        this.int64Digits(end, json);
        canonical.byte(0x69);
        canonical.copy(json.buf, at, json.len);
        canonical.byte(0x3b);
        break;
      }
      case 0x21: {
        if (this.pos + 8 > end || !LITTLE_ENDIAN) giveUp();
        for (let i = 0; i < 8; i++) DOUBLE_BYTES[i] = this.bytes[this.pos + i]!;
        this.pos += 8;
        const value = DOUBLE[0]!;
        // Its text may have an exponent: validation measures it.
        this.vouched = false;
        if (Number.isFinite(value)) json.ascii(String(value));
        else json.ascii(Number.isNaN(value) ? '"NaN"' : value > 0 ? '"Infinity"' : '"-Infinity"');
        canonical.ascii(`d${Object.is(value, -0) ? '-0' : String(value)};`);
        break;
      }
      case 0x2a: {
        if (level + 1 > MAX_LEVELS) giveUp();
        if (level + 1 > this.deepest) this.deepest = level + 1;
        const listEnd = this.delimitedEnd(end);
        const items = this.repeatedValues(listEnd);
        canonical.ascii(`[${items.length / 2}:`);
        json.byte(0x5b);
        for (let i = 0; i < items.length; i += 2) {
          if (i > 0) json.byte(0x2c);
          this.pos = items[i]!;
          this.anyValue(items[i + 1]!, json, level + 1);
        }
        json.byte(0x5d);
        canonical.byte(0x5d);
        this.pos = listEnd;
        break;
      }
      case 0x32: {
        const listEnd = this.delimitedEnd(end);
        this.keyValues(this.repeatedValues(listEnd), json, level + 1);
        this.pos = listEnd;
        break;
      }
      case 0x3a: {
        const fieldEnd = this.delimitedEnd(end);
        const value = this.bytes.subarray(this.pos, fieldEnd);
        json.ascii(`"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}"`);
        canonical.ascii('y');
        canonical.hex(this.bytes, this.pos, fieldEnd);
        canonical.byte(0x3b);
        this.pos = fieldEnd;
        break;
      }
      default:
        giveUp();
    }
    // One member of the oneof, once: anything more is merged by the general path.
    if (this.pos !== end) giveUp();
  }

  /** The ranges of an ArrayValue's or KeyValueList's `values` (field 1, its only field) up to `end`. */
  private repeatedValues(end: number): number[] {
    const ranges: number[] = [];
    while (this.pos < end) {
      if (this.varint() !== 0x0a) giveUp();
      const valueEnd = this.delimitedEnd(end);
      ranges.push(this.pos, valueEnd);
      this.pos = valueEnd;
    }
    return ranges;
  }

  /** A string field's bytes as a JSON string (JSON.stringify's escapes) to `out`; its length in UTF-16 units. */
  private string(start: number, end: number, out: Out): number {
    const bytes = this.bytes;
    if (startsWithBom(bytes, start, end)) giveUp();
    out.reserve((end - start) * 6 + 2);
    const buf = out.buf;
    let len = out.len;
    buf[len++] = QUOTE;
    // The common case: printable ASCII but the quote and the backslash, one unit a byte, copied as it is.
    let i = start;
    while (i < end) {
      const byte = bytes[i]!;
      if (PLAIN[byte] !== 1) break;
      buf[len++] = byte;
      i++;
    }
    let units = i - start;
    while (i < end) {
      const byte = bytes[i]!;
      if (PLAIN[byte] === 1) {
        buf[len++] = byte;
        i++;
        units++;
      } else if (byte === QUOTE || byte === BACKSLASH) {
        buf[len++] = BACKSLASH;
        buf[len++] = byte;
        i++;
        units++;
        this.escaped = true;
      } else if (byte < 0x20) {
        // \u0000 is what jsonb refuses: validation says so.
        if (byte === 0) this.vouched = false;
        this.escaped = true;
        len = writeControlEscape(buf, len, byte);
        i++;
        units++;
      } else {
        const sequence = utf8SequenceLength(bytes, i, end);
        if (sequence === 0) giveUp();
        for (let k = 0; k < sequence; k++) buf[len++] = bytes[i + k]!;
        i += sequence;
        units += sequence === 4 ? 2 : 1;
      }
    }
    buf[len++] = QUOTE;
    out.len = len;
    return units;
  }

  /** A string field's length in UTF-16 units (gives up on bytes that are not UTF-8). */
  private stringUnits(start: number, end: number): number {
    const bytes = this.bytes;
    if (startsWithBom(bytes, start, end)) giveUp();
    let units = 0;
    let i = start;
    while (i < end) {
      if (bytes[i]! < 0x80) {
        i++;
        units++;
        continue;
      }
      const sequence = utf8SequenceLength(bytes, i, end);
      if (sequence === 0) giveUp();
      i += sequence;
      units += sequence === 4 ? 2 : 1;
    }
    return units;
  }

  private varint(): number {
    const bytes = this.bytes;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= bytes.length) giveUp();
      const byte = bytes[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    return giveUp();
  }

  /** A varint of up to 10 bytes: whether it is zero is all a bool needs. */
  private varint64(): number {
    const bytes = this.bytes;
    let any = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= bytes.length) giveUp();
      const byte = bytes[this.pos++]!;
      any |= byte & 0x7f;
      if (byte < 0x80) return any;
    }
    return giveUp();
  }

  /** An int64 varint's exact decimal digits, to `out`. */
  private int64Digits(end: number, out: Out): void {
    const bytes = this.bytes;
    const at = this.pos;
    let lo = 0;
    let scale = 1;
    // Up to 7 bytes (49 bits) as a plain number: the common case.
    for (let shift = 0; shift < 49; shift += 7) {
      if (this.pos >= end) giveUp();
      const byte = bytes[this.pos++]!;
      lo += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) {
        out.uint(lo);
        return;
      }
    }
    // Longer: read it again exactly.
    this.pos = at;
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) giveUp();
      const byte = bytes[this.pos++]!;
      value |= BigInt(byte & 0x7f) << BigInt(i * 7);
      if (byte < 0x80) {
        out.ascii(BigInt.asIntN(64, value).toString());
        return;
      }
    }
    giveUp();
  }

  /** A uint32 or enum field that is not negative (at most 31 bits). */
  private uint31(): number {
    const value = this.varint();
    if (value > 0x7fffffff) giveUp();
    return value;
  }

  private fixed32(end: number): number {
    if (this.pos + 4 > end) giveUp();
    const bytes = this.bytes;
    const p = this.pos;
    this.pos = p + 4;
    return (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16)) + bytes[p + 3]! * 0x1000000;
  }

  private delimitedEnd(end: number): number {
    const fieldEnd = this.varint() + this.pos;
    if (fieldEnd > end) giveUp();
    return fieldEnd;
  }
}

/** WrittenPayloads by depth, without and with escapes: shared, as events carry them by the thousand. */
const WRITTEN: WrittenPayload[][] = [[], []];

function writtenPayload(depth: number, copyEscapes: boolean): WrittenPayload {
  const byDepth = WRITTEN[copyEscapes ? 1 : 0]!;
  return (byDepth[depth] ??= Object.freeze({ depth, copyEscapes }));
}

/**
 * What a scope's payload tail (map-otlp's resource and scope keys, written
 * by JSON.stringify) adds to its payloads' WrittenPayload, or undefined when
 * it might hold what validation must judge (\u0000, a surrogate escape, an
 * exponent; anything that looks like one, even inside a string). Its depth
 * is bounded by its count of opening brackets, plus the payload object.
 */
function writtenTail(tail: string): { readonly depth: number; readonly copyEscapes: boolean } | undefined {
  if (/\\u0000|\\u[dD]|[0-9][eE]/.test(tail)) return undefined;
  let opening = 0;
  for (let i = 0; i < tail.length; i++) {
    const code = tail.charCodeAt(i);
    if (code === 0x7b || code === 0x5b) opening++;
  }
  return { depth: opening + 1, copyEscapes: tail.includes('\\') };
}

function sameBytes(bytes: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (bytes[aStart + i] !== bytes[bStart + i]) return false;
  return true;
}

/** A leading U+FEFF, which the general path's UTF-8 decoding may drop: it takes those strings. */
function startsWithBom(bytes: Uint8Array, start: number, end: number): boolean {
  return end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf;
}

/** The time an event_id of a record without one starts with. */
const NO_TIME_HEX = nanosHex(0n);

/** splitNanos's nanoseconds (index 0) and seconds (index 1). */
const SPLIT_NANOS = new Float64Array(2);

/**
 * A fixed64 count of nanoseconds from its two 32-bit halves, split into
 * whole seconds (returned, also in SPLIT_NANOS[1]) and the nanoseconds left
 * (SPLIT_NANOS[0]) by long division in 16-bit digits: every step stays
 * below 2^53, so both are exact, as the general path's bigint arithmetic is.
 */
function splitNanos(lo: number, hi: number): number {
  let rest = hi >>> 16;
  let cur = rest * 65536 + (hi & 0xffff);
  const q2 = Math.floor(cur / 1e9);
  rest = cur - q2 * 1e9;
  cur = rest * 65536 + (lo >>> 16);
  const q1 = Math.floor(cur / 1e9);
  rest = cur - q1 * 1e9;
  cur = rest * 65536 + (lo & 0xffff);
  const q0 = Math.floor(cur / 1e9);
  const seconds = (q2 * 65536 + q1) * 65536 + q0;
  SPLIT_NANOS[0] = cur - q0 * 1e9;
  SPLIT_NANOS[1] = seconds;
  return seconds;
}
