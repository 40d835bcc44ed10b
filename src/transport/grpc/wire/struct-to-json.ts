import { storedNumberLength } from '../../../domain/ingest/inspect-json';
import type { MeasuredPayload } from '../../../domain/ingest/ingest-event';
import { writeDecimal } from '../../../domain/ingest/decimal-digits';
import { writeControlEscape } from '../../../domain/ingest/json-control-escape';
import { utf8SequenceLength } from '../../../domain/ingest/utf8-sequence';
import { LIST_VALUE, STRUCT, VALUE } from './field-tags';

/** A Struct payload as JSON text, and what a scan of that text would find (undefined when only a scan can say: a U+0000). */
export interface StructJson {
  readonly json: Uint8Array;
  readonly measured: MeasuredPayload | undefined;
}

/**
 * A google.protobuf.Struct payload written straight from its wire bytes as
 * the UTF-8 JSON text that JSON.stringify of decodeBoundedStruct's object
 * would store, with no object, string or number made on the way (strings are
 * copied as bytes, escaped as JSON.stringify escapes them).
 *
 * This is the common case's fast path; it gives up (undefined) on anything
 * else, and the caller then decodes the Struct as an object, which has the
 * exact semantics and reasons for every oddity: a Value with no kind or with
 * several kinds, a map entry without its key or value, unknown fields, a
 * number that is NaN or infinite, a string that is not UTF-8, nesting past
 * `maxLevels` (the top object is level 1). Keys are written in wire order;
 * a key that repeats is written twice, and jsonb keeps the last, as the
 * decoded object does. Throws on malformed wire data, as the decoders do.
 */
export function structToJson(bytes: Uint8Array, maxLevels: number): Uint8Array | undefined {
  return new StructJsonWriter(maxLevels, bytes.length * 2 + 64).write(bytes)?.json;
}

/**
 * structToJson for the Struct payloads of one message, one after the other:
 * their JSON texts are views into shared buffers (a new one only when the
 * current one is full), not a buffer each, and each comes with what the
 * validator's scan (scan-json-bytes.ts) would find in it, counted as it is
 * written, so that the validator need not scan it again.
 */
export class StructJsonWriter {
  private readonly output: JsonOutput;

  /** `firstBufferBytes`: the size of the first shared buffer (the message's length bounds what its payloads need). */
  constructor(
    private readonly maxLevels: number,
    firstBufferBytes: number,
  ) {
    this.output = new JsonOutput(Math.min(firstBufferBytes, BUFFER_BYTES));
  }

  /** The Struct whose wire bytes are `bytes` as JSON text, or undefined when the fast path gives up (see structToJson). */
  write(bytes: Uint8Array): StructJson | undefined {
    const output = this.output;
    output.start = output.length;
    const transcoder = new StructTranscoder(bytes, this.maxLevels, output);
    if (!transcoder.struct(bytes.length, 1)) {
      output.length = output.start;
      return undefined;
    }
    const json = output.json();
    if (transcoder.nul || transcoder.unmeasured) return { json, measured: undefined };
    // Every byte written is one byte stored, but for jsonb's space after each ',' and ':' and numbers it writes out in full.
    const storedBytes = json.length + transcoder.separators + transcoder.numberExtraBytes;
    return { json, measured: { depth: transcoder.depth, storedBytes, copyEscapes: transcoder.backslashes } };
  }
}

/** The size of the buffers that a message's payloads are written into (one payload larger than this gets a buffer of its own size). */
const BUFFER_BYTES = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;

const DOUBLE = new Float64Array(1);
const DOUBLE_BYTES = new Uint8Array(DOUBLE.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const prematureEof = (): RangeError => new RangeError('premature EOF');

/**
 * Where payloads' JSON is written: the payload being written runs from
 * `start` to `length` of `buffer`; the ones before it stay where they were
 * written when the buffer is replaced.
 */
class JsonOutput {
  buffer: Buffer;
  start = 0;
  length = 0;

  constructor(bytes: number) {
    this.buffer = Buffer.allocUnsafe(bytes);
  }

  /**
   * The payload just written. A view into the shared buffer, unless the
   * buffer had to grow past its size for it (a long string reserves six
   * bytes per byte): then an exact copy, and the next payload starts a new
   * buffer, so that no small text keeps a large buffer alive.
   */
  json(): Uint8Array {
    if (this.buffer.length <= BUFFER_BYTES) return this.buffer.subarray(this.start, this.length);
    const copy = Buffer.from(this.buffer.subarray(this.start, this.length));
    this.buffer = Buffer.allocUnsafe(BUFFER_BYTES);
    this.start = 0;
    this.length = 0;
    return copy;
  }

  /** Room for `bytes` more: when the buffer is full, the payload being written moves to a new one. */
  reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const written = this.length - this.start;
    const larger = Buffer.allocUnsafe(Math.max(BUFFER_BYTES, written * 2 + bytes));
    this.buffer.copy(larger, 0, this.start, this.length);
    this.buffer = larger;
    this.start = 0;
    this.length = written;
  }
}

/** One payload's transcoding: a position in the Struct's bytes, and what the JSON written so far holds. */
class StructTranscoder {
  private pos = 0;
  /** The deepest nesting of objects and arrays written (the top object is 1). */
  depth = 0;
  /** The ',' and ':' written: jsonb stores each with a space after it. */
  separators = 0;
  /** The bytes by which numbers written with an exponent grow when jsonb writes them out in full. */
  numberExtraBytes = 0;
  /** Whether a backslash was written (an escape in a string): COPY text escapes it. */
  backslashes = false;
  /** Whether a string held U+0000, written as \u0000, which jsonb refuses: the scan says why. */
  nul = false;
  /** Whether a number's stored length could not be measured (the scan says why). */
  unmeasured = false;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxLevels: number,
    private readonly out: JsonOutput,
  ) {}

  /** The fields of a Struct up to `end`, as a JSON object; false to give up. */
  struct(end: number, level: number): boolean {
    if (level > this.maxLevels) return false;
    if (level > this.depth) this.depth = level;
    this.byte(0x7b);
    let first = true;
    while (this.pos < end) {
      if (this.varint() !== STRUCT.fields) return false;
      const entryEnd = this.delimitedEnd(end);
      if (!first) this.separator(COMMA);
      first = false;
      // The empty key is the default, so proto3 leaves it out.
      const valueAt = this.pos;
      if (this.pos < entryEnd && this.varint() === STRUCT.entryKey) {
        if (!this.string(this.delimitedEnd(entryEnd))) return false;
      } else {
        this.pos = valueAt;
        this.ascii('""');
      }
      this.separator(COLON);
      if (this.pos >= entryEnd || this.varint() !== STRUCT.entryValue) return false;
      if (!this.value(this.delimitedEnd(entryEnd), level)) return false;
      if (this.pos !== entryEnd) return false;
    }
    this.byte(0x7d);
    return true;
  }

  /** One Value with exactly one kind, up to `end`. */
  private value(end: number, level: number): boolean {
    if (this.pos >= end) return false;
    const tag = this.varint();
    switch (tag) {
      case VALUE.nullValue:
        this.varint();
        this.ascii('null');
        break;
      case VALUE.numberValue: {
        if (this.pos + 8 > end) throw prematureEof();
        if (!LITTLE_ENDIAN) return false;
        for (let i = 0; i < 8; i++) DOUBLE_BYTES[i] = this.bytes[this.pos + i]!;
        this.pos += 8;
        const number = DOUBLE[0]!;
        if (!Number.isFinite(number)) return false;
        this.number(number);
        break;
      }
      case VALUE.stringValue:
        if (!this.string(this.delimitedEnd(end))) return false;
        break;
      case VALUE.boolValue:
        this.ascii(this.varint() === 0 ? 'false' : 'true');
        break;
      case VALUE.structValue:
        if (!this.struct(this.delimitedEnd(end), level + 1)) return false;
        break;
      case VALUE.listValue:
        if (!this.list(this.delimitedEnd(end), level + 1)) return false;
        break;
      default:
        return false;
    }
    return this.pos === end;
  }

  private list(end: number, level: number): boolean {
    if (level > this.maxLevels) return false;
    if (level > this.depth) this.depth = level;
    this.byte(0x5b);
    let first = true;
    while (this.pos < end) {
      if (this.varint() !== LIST_VALUE.values) return false;
      if (!first) this.separator(COMMA);
      first = false;
      if (!this.value(this.delimitedEnd(end), level)) return false;
    }
    this.byte(0x5d);
    return true;
  }

  /**
   * A finite number as String() spells it (as JSON.stringify does): int32
   * values (-0 as 0) digit by digit, with no string made; the rest through
   * String(), and one with an exponent measured as jsonb writes it out.
   */
  private number(number: number): void {
    if ((number | 0) !== number) {
      const text = String(number);
      this.ascii(text);
      if (!text.includes('e')) return;
      const stored = storedNumberLength(text);
      if (typeof stored === 'string') this.unmeasured = true;
      else this.numberExtraBytes += stored - text.length;
      return;
    }
    const out = this.out;
    out.reserve(11);
    const buffer = out.buffer;
    let value = number;
    if (value < 0) {
      buffer[out.length++] = MINUS;
      // -2^31 has no int32 negation: its magnitude is written as a double, exactly.
      value = -value;
    }
    out.length = writeDecimal(buffer, out.length, value);
  }

  /** A string's bytes up to `end` as a JSON string: well-formed UTF-8 copied, JSON.stringify's escapes applied; false for bytes that are not UTF-8. */
  private string(end: number): boolean {
    const bytes = this.bytes;
    const out = this.out;
    out.reserve((end - this.pos) * 6 + 2);
    const output = out.buffer;
    let length = out.length;
    output[length++] = QUOTE;
    let i = this.pos;
    while (i < end) {
      const byte = bytes[i]!;
      if (byte >= 0x20 && byte < 0x80) {
        if (byte === QUOTE || byte === BACKSLASH) {
          output[length++] = BACKSLASH;
          this.backslashes = true;
        }
        output[length++] = byte;
        i++;
      } else if (byte < 0x20) {
        if (byte === 0) this.nul = true;
        length = writeControlEscape(output, length, byte);
        this.backslashes = true;
        i++;
      } else {
        const sequence = utf8SequenceLength(bytes, i, end);
        if (sequence === 0) return false;
        for (let k = 0; k < sequence; k++) output[length++] = bytes[i + k]!;
        i += sequence;
      }
    }
    output[length++] = QUOTE;
    out.length = length;
    this.pos = end;
    return true;
  }

  private ascii(text: string): void {
    const out = this.out;
    out.reserve(text.length);
    for (let i = 0; i < text.length; i++) out.buffer[out.length++] = text.charCodeAt(i);
  }

  private byte(value: number): void {
    const out = this.out;
    out.reserve(1);
    out.buffer[out.length++] = value;
  }

  /** A ',' or ':', which jsonb stores with a space after it. */
  private separator(value: number): void {
    this.separators++;
    this.byte(value);
  }

  /**
   * A varint of up to 35 bits; -1 for a longer one. Values under 2^28 are
   * put together with integer operations, so that they stay small integers
   * (V8 then keeps positions and lengths unboxed; a result of `**` is a
   * double, which made every position a heap number).
   */
  private varint(): number {
    const bytes = this.bytes;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= bytes.length) throw prematureEof();
      const byte = bytes[this.pos++]!;
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    if (this.pos >= bytes.length) throw prematureEof();
    const last = bytes[this.pos++]!;
    if (last < 0x80) return value + last * 2 ** 28;
    // Longer varints (negative enum values and the like) are skipped: they never form a tag the fast path takes.
    while (this.pos < bytes.length && bytes[this.pos++]! >= 0x80);
    return -1;
  }

  /** A length prefix; the end of the field it introduces, which must lie within `end`. */
  private delimitedEnd(end: number): number {
    const fieldEnd = this.varint() + this.pos;
    if (fieldEnd > end || fieldEnd < this.pos) throw prematureEof();
    return fieldEnd;
  }
}
