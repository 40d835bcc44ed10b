import { STRUCT, VALUE } from './field-tags';

/**
 * google.protobuf.Struct wire bytes straight from a parsed JSON object: the
 * payloads QueryEvents and StreamEvents return. Byte for byte what the
 * generated `Struct.encode(Struct.wrap(value))` writes, without building a
 * Value object per node or encoding each string through a TextEncoder: one
 * pass measures every nested message and string, a second writes them into
 * one buffer.
 *
 * Struct { map<string, Value> fields = 1; }  (each entry: key = 1, value = 2)
 * Value  { oneof kind { NullValue null_value = 1; double number_value = 2;
 *          string string_value = 3; bool bool_value = 4; Struct struct_value = 5;
 *          ListValue list_value = 6; } }
 * ListValue { repeated Value values = 1; }
 */

/** Struct.fields, ListValue.values and an entry's key share one tag (field 1, length-delimited). */
const TAG_ENTRY = STRUCT.fields;

/** Below this many UTF-16 units a string is measured and copied in JavaScript, which beats a native call for short ASCII. */
const SHORT_STRING = 48;

/** UTF-8 byte length; short all-ASCII strings are counted here, the rest natively. */
function utf8Length(value: string): number {
  if (value.length < SHORT_STRING) {
    let i = 0;
    while (i < value.length && value.charCodeAt(i) < 0x80) i++;
    if (i === value.length) return i;
  }
  return Buffer.byteLength(value);
}

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/**
 * First pass: the sizes of every string and nested message, in the order the
 * second pass needs them (a container's size comes before its children's).
 */
class Sizes {
  readonly list: number[] = [];

  struct(object: Record<string, unknown>): number {
    const slot = this.list.push(0) - 1;
    let size = 0;
    for (const key in object) {
      const value = object[key];
      if (value === undefined) continue;
      const entrySlot = this.list.push(0) - 1;
      let entry = 0;
      if (key.length > 0) {
        const keyBytes = utf8Length(key);
        this.list.push(keyBytes);
        entry += 1 + varintSize(keyBytes) + keyBytes;
      }
      const valueSize = this.value(value);
      entry += 1 + varintSize(valueSize) + valueSize;
      this.list[entrySlot] = entry;
      size += 1 + varintSize(entry) + entry;
    }
    this.list[slot] = size;
    return size;
  }

  private listValue(items: readonly unknown[]): number {
    const slot = this.list.push(0) - 1;
    let size = 0;
    for (const item of items) {
      const valueSize = this.value(item);
      size += 1 + varintSize(valueSize) + valueSize;
    }
    this.list[slot] = size;
    return size;
  }

  /** The size of one Value message (without its own tag and length). */
  value(value: unknown): number {
    const slot = this.list.push(0) - 1;
    let size: number;
    switch (typeof value) {
      case 'number':
        size = 9;
        break;
      case 'boolean':
        size = 2;
        break;
      case 'string': {
        const bytes = utf8Length(value);
        this.list.push(bytes);
        size = 1 + varintSize(bytes) + bytes;
        break;
      }
      default:
        if (value === null || value === undefined) {
          size = 2;
        } else {
          const inner = Array.isArray(value) ? this.listValue(value) : this.struct(value as Record<string, unknown>);
          size = 1 + varintSize(inner) + inner;
        }
    }
    this.list[slot] = size;
    return size;
  }
}

/** Second pass: writes what Sizes measured, reading its sizes back in the same order. */
class Writer {
  private offset = 0;

  /** `next`: where in `sizes` to start reading. */
  constructor(
    readonly buffer: Buffer,
    private readonly sizes: readonly number[],
    private next: number,
  ) {}

  private size(): number {
    return this.sizes[this.next++]!;
  }

  private byte(value: number): void {
    this.buffer[this.offset++] = value;
  }

  private varint(value: number): void {
    while (value >= 0x80) {
      this.buffer[this.offset++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[this.offset++] = value;
  }

  private text(value: string, bytes: number): void {
    this.varint(bytes);
    if (bytes === value.length && bytes < SHORT_STRING) {
      // ASCII (byte length = length): one byte per unit.
      for (let i = 0; i < bytes; i++) this.buffer[this.offset++] = value.charCodeAt(i);
    } else {
      this.offset += this.buffer.write(value, this.offset, bytes, 'utf8');
    }
  }

  /** A Struct's fields (its size was read by the caller). */
  struct(object: Record<string, unknown>): void {
    for (const key in object) {
      const value = object[key];
      if (value === undefined) continue;
      this.byte(TAG_ENTRY);
      this.varint(this.size());
      if (key.length > 0) {
        this.byte(TAG_ENTRY);
        this.text(key, this.size());
      }
      this.byte(STRUCT.entryValue);
      this.value(value);
    }
  }

  /** One Value: its length, then its one field. */
  private value(value: unknown): void {
    this.varint(this.size());
    switch (typeof value) {
      case 'number':
        this.byte(VALUE.numberValue);
        this.buffer.writeDoubleLE(value, this.offset);
        this.offset += 8;
        return;
      case 'boolean':
        this.byte(VALUE.boolValue);
        this.byte(value ? 1 : 0);
        return;
      case 'string':
        this.byte(VALUE.stringValue);
        this.text(value, this.size());
        return;
      default:
        if (value === null || value === undefined) {
          this.byte(VALUE.nullValue);
          this.byte(0);
        } else if (Array.isArray(value)) {
          this.byte(VALUE.listValue);
          this.varint(this.size());
          for (const item of value) {
            this.byte(TAG_ENTRY);
            this.value(item);
          }
        } else {
          this.byte(VALUE.structValue);
          this.varint(this.size());
          this.struct(value as Record<string, unknown>);
        }
    }
  }
}

/** The google.protobuf.Struct encoding of a JSON object (as JSON.parse gives it). */
export function encodeStruct(object: Record<string, unknown>): Buffer {
  const sizes = new Sizes();
  const size = sizes.struct(object);
  // The top Struct's own size opens the list and has no length prefix on the wire.
  const writer = new Writer(Buffer.allocUnsafe(size), sizes.list, 1);
  writer.struct(object);
  return writer.buffer;
}
