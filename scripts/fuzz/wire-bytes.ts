/**
 * Hand-made protobuf wire bytes, for requests the generated encoders cannot
 * make: strings that are not UTF-8, Structs nested 10 000 levels deep (the
 * generated encoder recurses and overflows the stack), messages padded to an
 * exact size with an unknown field.
 */

const LENGTH_DELIMITED = 2;
const VARINT = 0;

/** The varint encoding of a non-negative integer (or a negative int64, as ten bytes). */
export function varint(value: bigint | number): Uint8Array {
  let rest = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest === 0n ? low : low | 0x80);
  } while (rest !== 0n);
  return Uint8Array.from(out);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** A length-delimited field (string, bytes or message) holding `value` as is. */
export function lengthDelimited(fieldNumber: number, value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return concat([varint((fieldNumber << 3) | LENGTH_DELIMITED), varint(bytes.length), bytes]);
}

/** A varint field. */
export function varintField(fieldNumber: number, value: bigint | number): Uint8Array {
  return concat([varint((fieldNumber << 3) | VARINT), varint(value)]);
}

/**
 * A google.protobuf.Timestamp or Duration with any int64 seconds and int32
 * nanos (negative nanos as ten bytes, as int32 is encoded); zeros are left
 * out, as proto3 encoders do.
 */
export function secondsNanos(seconds: bigint | number, nanos: number): Uint8Array {
  return concat([...(BigInt(seconds) === 0n ? [] : [varintField(1, seconds)]), ...(nanos === 0 ? [] : [varintField(2, BigInt(nanos))])]);
}

/** The field number padding uses: no request message of the contract has it, so decoders skip it as an unknown field. */
export const PADDING_FIELD = 1999;

/** `message` with an unknown length-delimited field appended so that the whole is exactly `size` bytes. */
export function padTo(message: Uint8Array, size: number): Uint8Array {
  const tag = varint((PADDING_FIELD << 3) | LENGTH_DELIMITED);
  let fill = size - message.length - tag.length - 1;
  // The length's own varint grows with the length: settle the two together.
  while (fill >= 0 && message.length + tag.length + varint(fill).length + fill !== size) fill--;
  if (fill < 0) throw new Error(`cannot pad a ${message.length}-byte message to ${size} bytes`);
  return concat([message, tag, varint(fill), new Uint8Array(fill).fill(0x61)]);
}

/**
 * A google.protobuf.Struct nested `levels` deep: {"a": {"a": ... {"leaf": 1}}}
 * (objects) or {"a": [[...[1]...]]} (lists), the top object being level 1.
 * Built from the inside out with the lengths computed first, so that 10 000
 * levels take one pass and no recursion.
 */
export function deepStruct(levels: number, inner: 'objects' | 'lists' = 'objects'): Uint8Array {
  const leafNumber = concat([varint(17), Buffer.from(new Float64Array([1]).buffer)]);
  if (inner === 'objects') {
    // level k: Struct{fields: Entry{key "a", value: Value{struct_value: level k+1}}}; the last level is {"leaf": 1}.
    const innermost = lengthDelimited(1, concat([lengthDelimited(1, 'leaf'), lengthDelimited(2, leafNumber)]));
    return wrapInside(innermost, levels - 1, (inside) => [
      prefix(1, entryLength(inside)),
      lengthDelimited(1, 'a'),
      prefix(2, valueLength(inside)),
      prefix(5, inside),
    ]);
  }
  // {"a": list}, where list is levels - 1 ListValues, each Value{list_value: ListValue{values: [next]}}, the last holding 1.
  const innermostList = lengthDelimited(1, leafNumber);
  const lists = wrapInside(innermostList, levels - 2, (inside) => [prefix(1, prefix(6, inside).length + inside), prefix(6, inside)]);
  const value = lengthDelimited(6, lists);
  return lengthDelimited(1, concat([lengthDelimited(1, 'a'), lengthDelimited(2, value)]));
}

/** The tag and length of a length-delimited field whose contents are `contentLength` bytes. */
function prefix(fieldNumber: number, contentLength: number): Uint8Array {
  return concat([varint((fieldNumber << 3) | LENGTH_DELIMITED), varint(contentLength)]);
}

/** Size of Value{struct_value: <inside bytes>}. */
function valueLength(inside: number): number {
  return prefix(5, inside).length + inside;
}

/** Size of Entry{key "a", value: Value{struct_value: <inside>}}. */
function entryLength(inside: number): number {
  const value = valueLength(inside);
  return lengthDelimited(1, 'a').length + prefix(2, value).length + value;
}

/**
 * `innermost` wrapped `times` times: `layer(insideLength)` gives the bytes
 * that go before the inside at each layer (everything of a layer comes before
 * its inside, so layers are written outermost first).
 */
function wrapInside(innermost: Uint8Array, times: number, layer: (insideLength: number) => Uint8Array[]): Uint8Array {
  const insideLengths = new Array<number>(Math.max(0, times));
  let inside = innermost.length;
  for (let i = times - 1; i >= 0; i--) {
    insideLengths[i] = inside;
    inside += layer(inside).reduce((sum, part) => sum + part.length, 0);
  }
  const out = new Uint8Array(inside);
  let at = 0;
  for (let i = 0; i < times; i++) {
    for (const part of layer(insideLengths[i]!)) {
      out.set(part, at);
      at += part.length;
    }
  }
  out.set(innermost, at);
  return out;
}
