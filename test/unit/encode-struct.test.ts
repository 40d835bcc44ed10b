import { Struct } from '../../src/gen/google/protobuf/struct';
import { encodeStruct } from '../../src/transport/grpc/wire/encode-struct';
import { random, randomObject } from '../support/random-json';

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
