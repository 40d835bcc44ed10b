import { createHash, randomBytes } from 'node:crypto';

/** Every key starts with this, so that secret scanners and people can recognise it. */
export const API_KEY_PREFIX = 'tv_';
/** Random bytes per key: 256 bits of entropy. */
const KEY_BYTES = 32;
/** How many characters of a key are kept in clear, to tell keys apart. */
const VISIBLE_PREFIX_LENGTH = API_KEY_PREFIX.length + 8;

/** An API key as stored: never the key itself, only its hash. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly tenantId: string;
  /** The key's first characters, e.g. `tv_Ab3dE9fG`. */
  readonly prefix: string;
  readonly createdAt: Date;
  readonly expiresAt: Date | undefined;
  readonly revokedAt: Date | undefined;
}

export interface NewApiKey {
  readonly tenantId: string;
  readonly keyHash: Buffer;
  readonly prefix: string;
  readonly expiresAt: Date | undefined;
}

/** Where API keys are kept (implemented in storage/). */
export interface ApiKeyStore {
  create(key: NewApiKey): Promise<ApiKeyRecord>;
  listByTenant(tenantId: string): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (keeping the first revocation time); undefined when no such key. */
  revoke(id: string, at: Date): Promise<ApiKeyRecord | undefined>;
}

/** A freshly generated key: `key` is shown once and never stored. */
export interface GeneratedApiKey {
  readonly key: string;
  readonly prefix: string;
  readonly hash: Buffer;
}

/** Generates a random key (`tv_` + 43 base64url characters, 256 bits). */
export function generateApiKey(): GeneratedApiKey {
  const key = API_KEY_PREFIX + randomBytes(KEY_BYTES).toString('base64url');
  return { key, prefix: key.slice(0, VISIBLE_PREFIX_LENGTH), hash: hashApiKey(key) };
}

/**
 * SHA-256 of the key. A fast hash is right here: keys are 256-bit random
 * secrets, so there is nothing for a slow password hash to protect against.
 */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}
