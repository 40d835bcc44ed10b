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
  return readStruct(new BinaryReader(bytes), 1, maxLevels);
}

function readStruct(reader: BinaryReader, level: number, maxLevels: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === STRUCT_FIELDS) {
      const [key, value] = readEntry(new BinaryReader(reader.bytes()), level, maxLevels);
      // As Struct.decode: an entry without a value (or whose Value has no kind) is dropped.
      if (value !== undefined) {
        // defineProperty, so that a key such as "__proto__" is stored as a key, as JSON.parse does.
        Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (!skipField(reader, tag)) break;
  }
  return object;
}

function readEntry(reader: BinaryReader, level: number, maxLevels: number): [string, unknown] {
  let key = '';
  let value: unknown;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === ENTRY_KEY) key = reader.string();
    else if (tag === ENTRY_VALUE) value = readValue(new BinaryReader(reader.bytes()), level, maxLevels);
    else if (!skipField(reader, tag)) break;
  }
  return [key, value];
}

/** A Value's kind, with the precedence of ts-proto's Value.unwrap when several kinds are set. */
function readValue(reader: BinaryReader, level: number, maxLevels: number): unknown {
  let nullValue: null | undefined;
  let numberValue: number | undefined;
  let stringValue: string | undefined;
  let boolValue: boolean | undefined;
  let structValue: Record<string, unknown> | undefined;
  let listValue: unknown[] | undefined;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === VALUE_NULL) {
      reader.int32();
      nullValue = null;
    } else if (tag === VALUE_NUMBER) {
      numberValue = reader.double();
    } else if (tag === VALUE_STRING) {
      stringValue = reader.string();
    } else if (tag === VALUE_BOOL) {
      boolValue = reader.bool();
    } else if (tag === VALUE_STRUCT) {
      const nested = reader.bytes();
      structValue = level < maxLevels ? readStruct(new BinaryReader(nested), level + 1, maxLevels) : {};
    } else if (tag === VALUE_LIST) {
      const nested = reader.bytes();
      listValue = level < maxLevels ? readList(new BinaryReader(nested), level + 1, maxLevels) : [];
    } else if (!skipField(reader, tag)) {
      break;
    }
  }
  return stringValue ?? numberValue ?? boolValue ?? structValue ?? listValue ?? nullValue;
}

function readList(reader: BinaryReader, level: number, maxLevels: number): unknown[] {
  const values: unknown[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === LIST_VALUES) values.push(readValue(new BinaryReader(reader.bytes()), level, maxLevels));
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
