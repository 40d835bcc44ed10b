import { compareBytes } from '../../src/storage/event-query-repository';

/** Aggregate rows are returned in UTF-8 byte order of type and service (the "C" collation's order). */
describe('compareBytes', () => {
  const samples = ['', 'a', 'ab', 'b', 'service-01', 'service-1', 'Z', '\u00e9', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\ud800\udc00', '\ud83d\ude00', '\udbff\udfff', 'a\ud83d\ude00', 'a\uffff'];

  test('when any two valid strings are compared, then the order is the order of their UTF-8 bytes', () => {
    for (const a of samples) {
      for (const b of samples) {
        expect([a, b, Math.sign(compareBytes(a, b))]).toEqual([a, b, Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))]);
      }
    }
  });

  test('when a string is undefined, then it sorts as the empty string', () => {
    expect(compareBytes(undefined, undefined)).toBe(0);
    expect(Math.sign(compareBytes(undefined, 'a'))).toBe(-1);
    expect(Math.sign(compareBytes('a', undefined))).toBe(1);
  });
});
