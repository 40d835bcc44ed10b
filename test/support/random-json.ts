/**
 * Random JSON objects of every kind of value (nulls, awkward numbers, unicode and long
 * strings, nested lists and objects, the empty key) from a seed, for codec tests.
 */

/** A small seeded PRNG (a linear congruential generator), so that a failure can be replayed. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** mulberry32: a seeded generator with better-spread values than `random`'s, for property tests that pick data from a seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
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

export function randomObject(next: () => number, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const keys = Math.floor(next() * 6);
  for (let i = 0; i < keys; i++) object[STRINGS[Math.floor(next() * STRINGS.length)]!.slice(0, 40) + (i % 2 ? String(i) : '')] = randomJson(next, depth);
  return object;
}
