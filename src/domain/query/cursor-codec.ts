import { createHmac, timingSafeEqual } from 'node:crypto';
import { invalidArgument, VaultError } from '../vault-error';
import type { KeysetPosition } from './event-reader';
import { SCOPE_BYTES } from './query-scope';

const VERSION = 1;
const MAC_BYTES = 16;
const HEADER_BYTES = 1 + SCOPE_BYTES + 8;
/** Event ids are at most 128 characters; this leaves room and stops absurd input before any work. */
const MAX_CURSOR_CHARS = 512;
const MAC_CONTEXT = Buffer.from('telemetry-vault/cursor/v1\0');
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Told to a client whose cursor does not check out; the same words whatever the reason, like a bad signature. */
export const INVALID_CURSOR_MESSAGE = 'is not a cursor this service issued to you (malformed, truncated or altered); start again without a cursor';
export const CURSOR_SCOPE_MESSAGE = 'was made for another filter or order: send the same filter and order as the call that returned it, or start again without a cursor';

/**
 * Opaque, URL-safe paging cursors: the keyset position after the last event
 * of a page, bound to the query's scope (filter + order fingerprint) and to
 * the tenant, and signed.
 *
 * Layout (then base64url, no padding):
 *   version (1) | scope (16) | timestamp in µs, int64 big-endian (8) | event_id UTF-8 | MAC (16)
 * MAC = HMAC-SHA256(key, context | tenant id | everything before the MAC), cut to 128 bits.
 *
 * The tenant id is in the MAC, not in the cursor: another tenant's cursor
 * fails the check like a forged one. Tenant isolation never depends on it (every
 * statement is bound to the caller's tenant anyway); the signature makes misuse
 * an INVALID_ARGUMENT instead of a silent jump. The key is shared by every
 * instance (QUERY_CURSOR_SECRET, or the key stored in the database), so a
 * cursor from one instance works on any other.
 */
export class CursorCodec {
  constructor(private readonly key: Buffer) {
    if (key.length < 16) throw new Error('the cursor signing key must be at least 16 bytes');
  }

  encode(tenantId: string, scope: Buffer, position: KeysetPosition): string {
    const eventId = Buffer.from(position.eventId, 'utf8');
    const body = Buffer.alloc(HEADER_BYTES + eventId.length);
    body.writeUInt8(VERSION, 0);
    scope.copy(body, 1, 0, SCOPE_BYTES);
    body.writeBigInt64BE(position.timestampUs, 1 + SCOPE_BYTES);
    eventId.copy(body, HEADER_BYTES);
    return Buffer.concat([body, this.mac(tenantId, body)]).toString('base64url');
  }

  /** The position a cursor holds; INVALID_ARGUMENT naming `cursor` unless it is intact, this tenant's and made for `scope`. */
  decode(cursor: string, tenantId: string, scope: Buffer): KeysetPosition {
    if (cursor.length > MAX_CURSOR_CHARS || !BASE64URL.test(cursor)) throw invalidCursor();
    const bytes = Buffer.from(cursor, 'base64url');
    // Base64 ignores stray trailing bits: a cursor must be exactly what encode() wrote.
    if (bytes.toString('base64url') !== cursor || bytes.length < HEADER_BYTES + 1 + MAC_BYTES) throw invalidCursor();
    const body = bytes.subarray(0, bytes.length - MAC_BYTES);
    if (!timingSafeEqual(bytes.subarray(bytes.length - MAC_BYTES), this.mac(tenantId, body)) || body.readUInt8(0) !== VERSION) {
      throw invalidCursor();
    }
    if (!body.subarray(1, 1 + SCOPE_BYTES).equals(scope)) throw invalidArgument('cursor', CURSOR_SCOPE_MESSAGE);
    return { timestampUs: body.readBigInt64BE(1 + SCOPE_BYTES), eventId: body.subarray(HEADER_BYTES).toString('utf8') };
  }

  private mac(tenantId: string, body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(MAC_CONTEXT).update(tenantId).update('\0').update(body).digest().subarray(0, MAC_BYTES);
  }
}

function invalidCursor(): VaultError {
  return invalidArgument('cursor', INVALID_CURSOR_MESSAGE);
}
