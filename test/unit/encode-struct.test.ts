import { Struct } from '../../src/gen/google/protobuf/struct';
import { encodeStruct } from '../../src/transport/grpc/encode-struct';

/** A small seeded PRNG, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const STRINGS = ['', 'a', 'é', '\u{1F600}', 'x'.repeat(200), 'line\nbreak "quoted" \\ tab\t', '日本語のテキスト', 'y'.repeat(20_000)];

function randomJson(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 4 : 6));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return [0, -1, 1.5, 1e300, -2.5e-300, 2 ** 53, Number.MAX_VALUE, -0][Math.floor(next() * 8)];
    case 2:
      return next() < 0.5;
    case 3:
      return STRINGS[Math.floor(next() * STRINGS.length)];
    case 4:
      return Array.from({ length: Math.floor(next() * 5) }, () => randomJson(next, depth + 1));
    default:
      return randomObject(next, depth + 1);
  }
}

function randomObject(next: () => number, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const keys = Math.floor(next() * 6);
  for (let i = 0; i < keys; i++) object[STRINGS[Math.floor(next() * STRINGS.length)]!.slice(0, 40) + (i % 2 ? String(i) : '')] = randomJson(next, depth);
  return object;
}

describe('encodeStruct', () => {
  test('when JSON objects of every kind of value are encoded, then the bytes are exactly what the generated Struct codec writes', () => {
    const next = random(20261201);
    for (let i = 0; i < 2000; i++) {
      const object = randomObject(next, 0);
      // JSON.parse output is what the query path encodes.
      const parsed = JSON.parse(JSON.stringify(object)) as Record<string, unknown>;
      expect(encodeStruct(parsed).equals(Buffer.from(Struct.encode(Struct.wrap(parsed)).finish()))).toBe(true);
    }
  });

  test('when the bytes are decoded by the generated codec, then the same object comes back', () => {
    const object = { level: 'warn', n: 3, ok: false, none: null, nested: { list: [1, 'two', { three: [true] }], empty: {} }, '': 'empty key', long: 'z'.repeat(70_000) };
    expect(Struct.unwrap(Struct.decode(encodeStruct(object)))).toEqual(object);
  });

  test('when the object is empty, then the Struct is empty', () => {
    expect(encodeStruct({})).toHaveLength(0);
  });
});
