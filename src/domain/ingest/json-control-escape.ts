/** Lower-case hex digits, as JSON.stringify writes them in \u00XX. */
export const HEX_DIGITS = '0123456789abcdef';

const BACKSLASH = 0x5c;
/** JSON.stringify's short escapes: \b \t \n \f \r; other control characters are \u00XX. */
const SHORT_ESCAPES: Readonly<Record<number, number>> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72 };

/**
 * Writes the JSON escape of a control character (`byte` < 0x20) at `at`,
 * exactly as JSON.stringify spells it; returns the position after it. The
 * caller has reserved room for 6 bytes.
 */
export function writeControlEscape(out: Uint8Array, at: number, byte: number): number {
  out[at++] = BACKSLASH;
  const short = SHORT_ESCAPES[byte];
  if (short !== undefined) {
    out[at++] = short;
    return at;
  }
  out[at++] = 0x75;
  out[at++] = 0x30;
  out[at++] = 0x30;
  out[at++] = HEX_DIGITS.charCodeAt(byte >> 4);
  out[at++] = HEX_DIGITS.charCodeAt(byte & 15);
  return at;
}
