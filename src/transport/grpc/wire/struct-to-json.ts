import { writeControlEscape } from '../../../domain/ingest/json-control-escape';
import { utf8SequenceLength } from '../../../domain/ingest/utf8-sequence';
import { LIST_VALUE, STRUCT, VALUE } from './field-tags';

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
  const writer = new JsonWriter(bytes, maxLevels);
  if (!writer.struct(bytes.length, 1)) return undefined;
  return Buffer.from(writer.output.subarray(0, writer.length));
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;

const DOUBLE = new Float64Array(1);
const DOUBLE_BYTES = new Uint8Array(DOUBLE.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const prematureEof = (): RangeError => new RangeError('premature EOF');

/** The transcoding's state: a position in the Struct's bytes and the JSON written so far. */
class JsonWriter {
  private pos = 0;
  output: Buffer;
  length = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly maxLevels: number,
  ) {
    // A string byte becomes at most 6 (\u00XX); anything else is shorter than its field.
    this.output = Buffer.allocUnsafe(bytes.length * 2 + 64);
  }

  /** The fields of a Struct up to `end`, as a JSON object; false to give up. */
  struct(end: number, level: number): boolean {
    if (level > this.maxLevels) return false;
    this.byte(0x7b);
    let first = true;
    while (this.pos < end) {
      if (this.varint() !== STRUCT.fields) return false;
      const entryEnd = this.delimitedEnd(end);
      if (!first) this.byte(COMMA);
      first = false;
      // The empty key is the default, so proto3 leaves it out.
      const valueAt = this.pos;
      if (this.pos < entryEnd && this.varint() === STRUCT.entryKey) {
        if (!this.string(this.delimitedEnd(entryEnd))) return false;
      } else {
        this.pos = valueAt;
        this.ascii('""');
      }
      this.byte(COLON);
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
        this.ascii(String(number));
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
    this.byte(0x5b);
    let first = true;
    while (this.pos < end) {
      if (this.varint() !== LIST_VALUE.values) return false;
      if (!first) this.byte(COMMA);
      first = false;
      if (!this.value(this.delimitedEnd(end), level)) return false;
    }
    this.byte(0x5d);
    return true;
  }

  /** A string's bytes up to `end` as a JSON string: well-formed UTF-8 copied, JSON.stringify's escapes applied; false for bytes that are not UTF-8. */
  private string(end: number): boolean {
    const bytes = this.bytes;
    this.reserve((end - this.pos) * 6 + 2);
    const output = this.output;
    let length = this.length;
    output[length++] = QUOTE;
    let i = this.pos;
    while (i < end) {
      const byte = bytes[i]!;
      if (byte >= 0x20 && byte < 0x80) {
        if (byte === QUOTE || byte === BACKSLASH) output[length++] = BACKSLASH;
        output[length++] = byte;
        i++;
      } else if (byte < 0x20) {
        length = writeControlEscape(output, length, byte);
        i++;
      } else {
        const sequence = utf8SequenceLength(bytes, i, end);
        if (sequence === 0) return false;
        for (let k = 0; k < sequence; k++) output[length++] = bytes[i + k]!;
        i += sequence;
      }
    }
    output[length++] = QUOTE;
    this.length = length;
    this.pos = end;
    return true;
  }

  private ascii(text: string): void {
    this.reserve(text.length);
    for (let i = 0; i < text.length; i++) this.output[this.length++] = text.charCodeAt(i);
  }

  private byte(value: number): void {
    this.reserve(1);
    this.output[this.length++] = value;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.output.length) return;
    const larger = Buffer.allocUnsafe(Math.max(this.output.length * 2, this.length + bytes));
    this.output.copy(larger, 0, 0, this.length);
    this.output = larger;
  }

  private varint(): number {
    const bytes = this.bytes;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= bytes.length) throw prematureEof();
      const byte = bytes[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
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
