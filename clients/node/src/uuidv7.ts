import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;
let lastMs = -1;
let sequence = 0;

/** The id being written, as ASCII: hex digits and the four dashes. */
const text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
/** The millisecond whose hex digits `text` holds. */
let textMs = -1;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

type Latin1Slice = (this: Buffer, start: number, end: number) => string;
const nativeLatin1Slice = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;

/** Buffer#latin1Slice when present (every Node.js version this package supports): Buffer#toString's argument handling costs more than the copy. */
const latin1: (bytes: Buffer, start: number, end: number) => string = nativeLatin1Slice
  ? (bytes, start, end) => nativeLatin1Slice.call(bytes, start, end)
  : (bytes, start, end) => bytes.toString('latin1', start, end);

/** Writes `value` (a non-negative integer below 2^53) as `digits` hex digits from `at`. */
function writeHex(at: number, digits: number, value: number): void {
  for (let i = at + digits - 1; i >= at; i--) {
    text[i] = HEX[value % 16]!;
    value = Math.floor(value / 16);
  }
}

function writeHexByte(at: number, byte: number): void {
  text[at] = HEX[byte >> 4]!;
  text[at + 1] = HEX[byte & 0x0f]!;
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of unix milliseconds, then 74 random bits, of
 * which the top 12 (rand_a) count up within one millisecond so that ids made by
 * one process sort in the order they were made.
 *
 * Written as ASCII into one buffer and read as a string in one call: the
 * millisecond's twelve digits only when the millisecond changes, then the
 * counter and eight random bytes through a table of hex digits (about a
 * tenth of formatting a Buffer with toString('hex') and slicing it).
 */
export function uuidv7(now: number = Date.now()): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += 16;
  if (now > lastMs) {
    lastMs = now;
    sequence = pool[at + 6]! & 0x07; // start low so that the counter rarely overflows
  } else {
    sequence++;
    if (sequence > 0xfff) {
      // 4096 ids in one millisecond: borrow the next millisecond, as RFC 9562 allows.
      lastMs++;
      sequence = 0;
    }
  }
  if (lastMs !== textMs) {
    textMs = lastMs;
    writeHex(0, 8, Math.floor(lastMs / 0x10000)); // the top 32 of the 48 bits
    writeHex(9, 4, lastMs % 0x10000);
  }
  writeHex(15, 3, sequence); // after the version digit 7
  writeHexByte(19, 0x80 | (pool[at + 8]! & 0x3f)); // the variant (10xx), then 6 random bits
  writeHexByte(21, pool[at + 9]!);
  for (let i = 0; i < 6; i++) writeHexByte(24 + 2 * i, pool[at + 10 + i]!);
  return latin1(text, 0, 36);
}
