import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { skipField } from './decode-bounded-struct';

/** How one field of a message is decoded instead of by the generated decoder. */
export interface FieldOverride<T> {
  readonly wireType: WireType.Varint | WireType.LengthDelimited;
  /**
   * The field's part of the message, from every occurrence in order: the
   * contents of a length-delimited field, the bytes of a varint.
   */
  decode(occurrences: readonly Uint8Array[]): Partial<T>;
}

/**
 * Decodes a message with its generated decoder, except the fields named in
 * `overrides`: their occurrences (with the expected wire type) are taken out
 * before the generated decoder runs and decoded by the override. Every other
 * field, including ones added to the .proto later, keeps the generated
 * decoding. A field with another wire type is left to the generated decoder,
 * which skips it as protobuf requires.
 */
export function decodeOverriding<T extends object>(bytes: Uint8Array, decode: (bytes: Uint8Array) => T, overrides: { readonly [field: number]: FieldOverride<T> }): T {
  const reader = new BinaryReader(bytes);
  const kept: Uint8Array[] = [];
  const taken = new Map<number, Uint8Array[]>();
  let keptFrom = 0;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const override = overrides[tag >>> 3];
    if (override !== undefined && (tag & 7) === override.wireType) {
      const value = override.wireType === WireType.LengthDelimited ? reader.bytes() : reader.skip(WireType.Varint);
      kept.push(bytes.subarray(keptFrom, start));
      keptFrom = reader.pos;
      const occurrences = taken.get(tag >>> 3);
      if (occurrences) occurrences.push(value);
      else taken.set(tag >>> 3, [value]);
    } else if (!skipField(reader, tag)) {
      // The generated decoder ends the message here too, whatever follows.
      break;
    }
  }
  if (taken.size === 0) return decode(bytes);
  kept.push(bytes.subarray(keptFrom));
  const message = decode(kept.length === 1 ? kept[0]! : Buffer.concat(kept));
  for (const [field, occurrences] of taken) Object.assign(message, overrides[field]!.decode(occurrences));
  return message;
}

/** A message field's occurrences as one: protobuf merges repeated occurrences of a message field as if their bytes were concatenated. */
export function mergedOccurrences(occurrences: readonly Uint8Array[]): Uint8Array {
  return occurrences.length === 1 ? occurrences[0]! : Buffer.concat(occurrences);
}

/**
 * A varint occurrence as an int64 in a JavaScript number, never throwing:
 * values past 2^53 lose precision (the generated decoder throws on them), and
 * every range check downstream refuses them, naming the field.
 */
export function lenientInt64(varint: Uint8Array): number {
  return Number(new BinaryReader(varint).int64());
}
