import type { Prng } from './prng';
import { concat, varint } from './wire-bytes';

type Mutator = (prng: Prng, bytes: Uint8Array) => { bytes: Uint8Array; how: string };

/**
 * The classic protobuf mutations: bit flips, truncation, inserted and deleted
 * bytes, corrupted length prefixes, wrong wire types, repeated chunks and
 * overlong varints. Positions of tags and lengths are guessed from the bytes
 * (a fuzzer need not parse what it breaks).
 */
const MUTATORS: Readonly<Record<string, Mutator>> = {
  'bit flips': (prng, bytes) => {
    const out = Uint8Array.from(bytes);
    const flips = prng.between(1, 8);
    for (let i = 0; i < flips && out.length > 0; i++) out[prng.int(out.length)]! ^= 1 << prng.int(8);
    return { bytes: out, how: `${flips} bit flips` };
  },
  truncation: (prng, bytes) => {
    const at = prng.int(Math.max(1, bytes.length));
    return { bytes: bytes.subarray(0, at), how: `truncated to ${at} bytes` };
  },
  insertion: (prng, bytes) => {
    const at = prng.int(bytes.length + 1);
    const inserted = prng.bytes(prng.between(1, 16));
    return { bytes: concat([bytes.subarray(0, at), inserted, bytes.subarray(at)]), how: `${inserted.length} bytes inserted at ${at}` };
  },
  deletion: (prng, bytes) => {
    const at = prng.int(Math.max(1, bytes.length));
    const count = prng.between(1, 16);
    return { bytes: concat([bytes.subarray(0, at), bytes.subarray(at + count)]), how: `${count} bytes deleted at ${at}` };
  },
  'length prefix': (prng, bytes) => {
    // A byte whose low three bits say "length-delimited" is likely a tag followed by a length.
    const tags = [...bytes.keys()].filter((i) => (bytes[i]! & 7) === 2 && bytes[i]! < 0x80 && i + 1 < bytes.length);
    if (tags.length === 0) return MUTATORS['bit flips']!(prng, bytes);
    const at = prng.pick(tags) + 1;
    let end = at;
    while (end < bytes.length && bytes[end]! & 0x80) end++;
    const old = bytes[at]! & 0x7f;
    const length = prng.pick([0, 1, old + 1, Math.max(0, old - 1), old + prng.between(2, 1000), 0x7fff_ffff, 0xffff_ffff, 2 ** 40]);
    return { bytes: concat([bytes.subarray(0, at), varint(length), bytes.subarray(end + 1)]), how: `length at ${at} set to ${length}` };
  },
  'wire type': (prng, bytes) => {
    if (bytes.length === 0) return { bytes, how: 'nothing to change' };
    const tags = [...bytes.keys()].filter((i) => bytes[i]! < 0x80 && bytes[i]! >= 8);
    const at = tags.length > 0 ? prng.pick(tags) : prng.int(bytes.length);
    const out = Uint8Array.from(bytes);
    const wireType = prng.int(8);
    out[at] = (out[at]! & ~7) | wireType;
    return { bytes: out, how: `wire type at ${at} set to ${wireType}` };
  },
  repetition: (prng, bytes) => {
    const from = prng.int(Math.max(1, bytes.length));
    const chunk = bytes.subarray(from, from + prng.between(1, 64));
    const times = prng.between(2, 50);
    return { bytes: concat([bytes.subarray(0, from), ...Array.from({ length: times }, () => chunk), bytes.subarray(from + chunk.length)]), how: `${chunk.length} bytes at ${from} repeated ${times} times` };
  },
  'overlong varint': (prng, bytes) => {
    const at = prng.int(bytes.length + 1);
    const run = new Uint8Array(prng.between(5, 12)).fill(0xff);
    return { bytes: concat([bytes.subarray(0, at), run, bytes.subarray(at)]), how: `${run.length} 0xff bytes at ${at}` };
  },
};

/** One to three mutations of `bytes`, and a description of them. */
export function mutateBytes(prng: Prng, bytes: Uint8Array): { bytes: Uint8Array; how: string } {
  const names = Object.keys(MUTATORS);
  const steps: string[] = [];
  let current = bytes;
  const count = prng.between(1, 3);
  for (let i = 0; i < count; i++) {
    const name = prng.pick(names);
    const result = MUTATORS[name]!(prng, current);
    current = result.bytes;
    steps.push(result.how);
  }
  return { bytes: current, how: steps.join(', ') };
}
