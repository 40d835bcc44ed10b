import { MAX_SAFE_INTEGER_DIGITS, writeDecimal } from '../../src/domain/ingest/decimal-digits';

describe('writeDecimal', () => {
  /** The text writeDecimal writes for `value` after two bytes already there, and the position it returns. */
  function written(value: number): { text: string; after: number } {
    const out = new Uint8Array(2 + MAX_SAFE_INTEGER_DIGITS + 1).fill(0x78);
    const after = writeDecimal(out, 2, value);
    return { text: Buffer.from(out).toString('latin1'), after };
  }

  test('when given a non-negative safe integer, then it writes String(value) at the position and returns the position after it, touching nothing else', () => {
    const values = [0, -0, 1, 9, 10, 99, 100, 4_294_967_295, 2 ** 49 - 1, 2 ** 49, 10 ** 15, Number.MAX_SAFE_INTEGER];
    for (let power = 1; power < MAX_SAFE_INTEGER_DIGITS; power++) values.push(10 ** power - 1, 10 ** power);
    for (const value of values) {
      const digits = String(value);
      const { text, after } = written(value);
      expect({ value, text, after }).toEqual({ value, text: `xx${digits}${'x'.repeat(MAX_SAFE_INTEGER_DIGITS + 1 - digits.length)}`, after: 2 + digits.length });
    }
  });

  test('when the largest safe integer is written, then it takes MAX_SAFE_INTEGER_DIGITS bytes', () => {
    expect(written(Number.MAX_SAFE_INTEGER).after - 2).toBe(MAX_SAFE_INTEGER_DIGITS);
  });
});
