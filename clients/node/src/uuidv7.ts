import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;
let lastMs = -1;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562): 48 bits of unix milliseconds, then 74 random bits, of
 * which the top 12 (rand_a) count up within one millisecond so that ids made by
 * one process sort in the order they were made.
 */
export function uuidv7(now: number = Date.now()): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  if (now > lastMs) {
    lastMs = now;
    sequence = bytes[6]! & 0x07; // start low so that the counter rarely overflows
  } else {
    sequence++;
    if (sequence > 0xfff) {
      // 4096 ids in one millisecond: borrow the next millisecond, as RFC 9562 allows.
      lastMs++;
      sequence = 0;
    }
  }
  const ms = lastMs;
  const out = Buffer.allocUnsafe(16);
  out.writeUIntBE(ms, 0, 6);
  out[6] = 0x70 | (sequence >> 8);
  out[7] = sequence & 0xff;
  out[8] = 0x80 | (bytes[8]! & 0x3f);
  bytes.copy(out, 9, 9, 16);
  const hex = out.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
