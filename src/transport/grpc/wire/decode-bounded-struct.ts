import { BinaryReader } from '@bufbuild/protobuf/wire';
import { LIST_VALUE, STRUCT, VALUE } from './field-tags';

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
  const reader = new BinaryReader(bytes);
  return readStruct(reader, reader.len, 1, maxLevels);
}

/**
 * The end offset of the length-delimited field starting here (the reader
 * moves to its first byte); past `end` throws, as the generated decoders do.
 * Nested messages are read from the one reader of the whole payload, each up
 * to its end offset: no reader or copy per field.
 */
export function delimited(reader: BinaryReader, end: number): number {
  const fieldEnd = reader.uint32() + reader.pos;
  if (fieldEnd > end) throw new RangeError('premature EOF');
  return fieldEnd;
}

function readStruct(reader: BinaryReader, end: number, level: number, maxLevels: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === STRUCT.fields) {
      const entryEnd = delimited(reader, end);
      let key = '';
      let value: unknown;
      while (reader.pos < entryEnd) {
        const entryTag = reader.uint32();
        if (entryTag === STRUCT.entryKey) key = reader.string();
        else if (entryTag === STRUCT.entryValue) value = readValue(reader, delimited(reader, entryEnd), level, maxLevels);
        else if (!skipField(reader, entryTag)) break;
      }
      reader.pos = entryEnd;
      // As Struct.decode: an entry without a value (or whose Value has no kind) is dropped.
      if (value === undefined) continue;
      // "__proto__" is stored as a key, as JSON.parse does (an assignment would set the prototype).
      if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key] = value;
      continue;
    }
    if (!skipField(reader, tag)) break;
  }
  return object;
}

/** A Value's kind, with the precedence of ts-proto's Value.unwrap when several kinds are set. */
function readValue(reader: BinaryReader, end: number, level: number, maxLevels: number): unknown {
  let nullValue: null | undefined;
  let numberValue: number | undefined;
  let stringValue: string | undefined;
  let boolValue: boolean | undefined;
  let structValue: Record<string, unknown> | undefined;
  let listValue: unknown[] | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === VALUE.nullValue) {
      reader.uint32();
      nullValue = null;
    } else if (tag === VALUE.numberValue) {
      numberValue = reader.double();
    } else if (tag === VALUE.stringValue) {
      stringValue = reader.string();
    } else if (tag === VALUE.boolValue) {
      boolValue = reader.bool();
    } else if (tag === VALUE.structValue) {
      const nestedEnd = delimited(reader, end);
      structValue = level < maxLevels ? readStruct(reader, nestedEnd, level + 1, maxLevels) : {};
      reader.pos = nestedEnd;
    } else if (tag === VALUE.listValue) {
      const nestedEnd = delimited(reader, end);
      listValue = level < maxLevels ? readList(reader, nestedEnd, level + 1, maxLevels) : [];
      reader.pos = nestedEnd;
    } else if (!skipField(reader, tag)) {
      break;
    }
  }
  reader.pos = end;
  return stringValue ?? numberValue ?? boolValue ?? structValue ?? listValue ?? nullValue;
}

function readList(reader: BinaryReader, end: number, level: number, maxLevels: number): unknown[] {
  const values: unknown[] = [];
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === LIST_VALUE.values) values.push(readValue(reader, delimited(reader, end), level, maxLevels));
    else if (!skipField(reader, tag)) break;
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
