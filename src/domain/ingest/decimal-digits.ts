/** The most decimal digits a non-negative safe integer has (2^53 - 1 has 16). */
export const MAX_SAFE_INTEGER_DIGITS = 16;

const ZERO = 0x30;

/**
 * Writes a non-negative safe integer's decimal digits at `at`, from the
 * right, with no string made; returns the position after them. The caller
 * has reserved room for them (MAX_SAFE_INTEGER_DIGITS at most).
 */
export function writeDecimal(out: Uint8Array, at: number, value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const after = at + digits;
  let i = after;
  let rest = value;
  do {
    out[--i] = ZERO + (rest % 10);
    rest = Math.floor(rest / 10);
  } while (rest > 0);
  return after;
}
