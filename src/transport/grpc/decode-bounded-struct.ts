import { BinaryReader } from '@bufbuild/protobuf/wire';

/** Tags (field number << 3 | wire type) of google.protobuf.Struct, Struct.FieldsEntry, Value and ListValue. */
const STRUCT_FIELDS = 10;
const ENTRY_KEY = 10;
const ENTRY_VALUE = 18;
const VALUE_NULL = 8;
const VALUE_NUMBER = 17;
const VALUE_STRING = 26;
const VALUE_BOOL = 32;
const VALUE_STRUCT = 42;
const VALUE_LIST = 50;
const LIST_VALUES = 10;

/**
 * Decodes a google.protobuf.Struct into the plain object ts-proto's
 * `Struct.unwrap(Struct.decode(...))` gives, but with a nesting bound instead
 * of ts-proto's decode recursion limit. That limit (100 nested messages, three
 * per Struct level) makes any Struct deeper than about 32 levels an
 * undecodable request, which failed every other event of an ingest message
 * and refused payloads that INGEST_MAX_PAYLOAD_DEPTH allows.
 *
 * Objects and lists are decoded down to level `maxLevels` (the top object is
 * level 1); one found deeper is skipped without being read and stands as an
 * empty object or list. The result is then still deeper than `maxLevels`, so
 * the caller's depth check names its own limit, and the work done on a
 * payload nested 10 000 levels deep stays bounded by `maxLevels`.
 *
 * Throws on malformed wire data, like the generated decoders.
 */
export function decodeBoundedStruct(bytes: Uint8Array, maxLevels: number): Record<string, unknown> {
  const cursor = new WireCursor(bytes);
  return readStruct(cursor, bytes.length, 1, maxLevels);
}

/**
 * Reads protobuf wire data from one buffer, nested messages by their end
 * offset rather than by a reader of their own (the payloads of a whole ingest
 * message pass through here: no allocation per field). Reading past the end
 * of a message throws, as the generated decoders do.
 */
class WireCursor {
  pos = 0;
  private readonly buffer: Buffer;

  constructor(bytes: Uint8Array) {
    this.buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A varint as a number (exact up to 2^53, which covers tags and lengths). */
  varint(end: number): number {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= end) throw new RangeError('premature EOF');
      const byte = this.buffer[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new Error('invalid varint');
  }

  /** The end offset of the length-delimited field starting here (the cursor moves to its first byte). */
  delimited(end: number): number {
    const length = this.varint(end);
    const fieldEnd = this.pos + length;
    if (fieldEnd > end) throw new RangeError('premature EOF');
    return fieldEnd;
  }

  string(end: number): string {
    const fieldEnd = this.delimited(end);
    const value = this.buffer.toString('utf8', this.pos, fieldEnd);
    this.pos = fieldEnd;
    return value;
  }

  double(end: number): number {
    if (this.pos + 8 > end) throw new RangeError('premature EOF');
    const value = this.buffer.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** Skips an unknown field as the generated decoders do; false when the tag ends the message (an end-group tag, or 0). */
  skip(tag: number, end: number): boolean {
    const wireType = tag & 7;
    if (wireType === 4 || tag === 0) return false;
    switch (wireType) {
      case 0:
        this.varint(end);
        return true;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.delimited(end);
        return true;
      case 3:
        for (let inner = this.varint(end); (inner & 7) !== 4; inner = this.varint(end)) {
          if (!this.skip(inner, end)) break;
        }
        return true;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`cant skip wire type ${wireType}`);
    }
    if (this.pos > end) throw new RangeError('premature EOF');
    return true;
  }
}

function readStruct(cursor: WireCursor, end: number, level: number, maxLevels: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  while (cursor.pos < end) {
    const tag = cursor.varint(end);
    if (tag === STRUCT_FIELDS) {
      const entryEnd = cursor.delimited(end);
      let key = '';
      let value: unknown;
      while (cursor.pos < entryEnd) {
        const entryTag = cursor.varint(entryEnd);
        if (entryTag === ENTRY_KEY) key = cursor.string(entryEnd);
        else if (entryTag === ENTRY_VALUE) value = readValue(cursor, cursor.delimited(entryEnd), level, maxLevels);
        else if (!cursor.skip(entryTag, entryEnd)) break;
      }
      cursor.pos = entryEnd;
      // As Struct.decode: an entry without a value (or whose Value has no kind) is dropped.
      if (value === undefined) continue;
      // "__proto__" is stored as a key, as JSON.parse does (an assignment would set the prototype).
      if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key] = value;
      continue;
    }
    if (!cursor.skip(tag, end)) break;
  }
  return object;
}

/** A Value's kind, with the precedence of ts-proto's Value.unwrap when several kinds are set. */
function readValue(cursor: WireCursor, end: number, level: number, maxLevels: number): unknown {
  let nullValue: null | undefined;
  let numberValue: number | undefined;
  let stringValue: string | undefined;
  let boolValue: boolean | undefined;
  let structValue: Record<string, unknown> | undefined;
  let listValue: unknown[] | undefined;
  while (cursor.pos < end) {
    const tag = cursor.varint(end);
    if (tag === VALUE_NULL) {
      cursor.varint(end);
      nullValue = null;
    } else if (tag === VALUE_NUMBER) {
      numberValue = cursor.double(end);
    } else if (tag === VALUE_STRING) {
      stringValue = cursor.string(end);
    } else if (tag === VALUE_BOOL) {
      boolValue = cursor.varint(end) !== 0;
    } else if (tag === VALUE_STRUCT) {
      const nestedEnd = cursor.delimited(end);
      structValue = level < maxLevels ? readStruct(cursor, nestedEnd, level + 1, maxLevels) : {};
      cursor.pos = nestedEnd;
    } else if (tag === VALUE_LIST) {
      const nestedEnd = cursor.delimited(end);
      listValue = level < maxLevels ? readList(cursor, nestedEnd, level + 1, maxLevels) : [];
      cursor.pos = nestedEnd;
    } else if (!cursor.skip(tag, end)) {
      break;
    }
  }
  cursor.pos = end;
  return stringValue ?? numberValue ?? boolValue ?? structValue ?? listValue ?? nullValue;
}

function readList(cursor: WireCursor, end: number, level: number, maxLevels: number): unknown[] {
  const values: unknown[] = [];
  while (cursor.pos < end) {
    const tag = cursor.varint(end);
    if (tag === LIST_VALUES) values.push(readValue(cursor, cursor.delimited(end), level, maxLevels));
    else if (!cursor.skip(tag, end)) break;
  }
  return values;
}

/**
 * Skips an unknown field as the generated decoders do; false when the tag
 * ends the message (an end-group tag, or 0).
 */
export function skipField(reader: BinaryReader, tag: number): boolean {
  if ((tag & 7) === 4 || tag === 0) return false;
  reader.skip(tag & 7);
  return true;
}
