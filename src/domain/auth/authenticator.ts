import { hashApiKey } from '../tenants/api-key';
import type { Tenant } from '../tenants/tenant';
import { VaultError } from '../vault-error';

/** A key found by its hash, with its tenant. */
export interface KeyMatch {
  readonly keyId: string;
  readonly tenant: Tenant;
  readonly expiresAt: Date | undefined;
  readonly revokedAt: Date | undefined;
}

/** Looks keys up by hash (implemented in storage/). */
export interface KeyLookup {
  findByHash(hash: Buffer): Promise<KeyMatch | undefined>;
}

/** Who a call is made by. */
export interface Principal {
  readonly keyId: string;
  readonly tenant: Tenant;
}

export interface AuthenticatorOptions {
  /** How long a lookup (found or not) is reused; bounds how late a revocation takes effect. */
  readonly cacheTtlMs: number;
  /** Most cached lookups; the oldest go first. */
  readonly cacheMaxEntries: number;
  readonly now?: () => number;
}

/**
 * The one message for a missing, malformed, unknown, revoked or expired key:
 * the response must not tell a caller which of these it was.
 */
export const UNAUTHENTICATED_MESSAGE = 'missing or invalid API key: send a valid key in the x-api-key metadata (or authorization: Bearer <key>)';

/** Keys are `tv_` and 43 base64url characters; anything else is refused without a lookup. */
const KEY_SHAPE = /^tv_[A-Za-z0-9_-]{43}$/;

interface CacheEntry {
  readonly match: KeyMatch | undefined;
  readonly until: number;
}

/**
 * Resolves API keys to tenants. Lookups are cached for a short TTL (so the
 * hot path stays off the database) and bounded in size; concurrent lookups of
 * the same key share one query. Revocation and expiry therefore take effect
 * within the TTL on every instance.
 */
export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, Promise<KeyMatch | undefined>>();
  private readonly now: () => number;

  constructor(
    private readonly keys: KeyLookup,
    private readonly options: AuthenticatorOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The principal of `key`; UNAUTHENTICATED (always the same message) when there is none. */
  async authenticate(key: string | undefined): Promise<Principal> {
    if (key === undefined || !KEY_SHAPE.test(key)) throw unauthenticated();
    const principal = this.principalOf(await this.lookup(hashApiKey(key)));
    if (!principal) throw unauthenticated();
    return principal;
  }

  /**
   * The principal of `key` when a lookup cached within the TTL found it valid,
   * without querying or waiting; undefined otherwise (not cached, or not
   * valid). Lets the failed-authentication limit wave through keys in use.
   */
  recentlyVerified(key: string | undefined): Principal | undefined {
    if (key === undefined || !KEY_SHAPE.test(key)) return undefined;
    const cached = this.cache.get(cacheId(hashApiKey(key)));
    return cached && cached.until > this.now() ? this.principalOf(cached.match) : undefined;
  }

  /** The principal of a match that is neither revoked nor expired. */
  private principalOf(match: KeyMatch | undefined): Principal | undefined {
    if (!match || match.revokedAt !== undefined || (match.expiresAt !== undefined && match.expiresAt.getTime() <= this.now())) return undefined;
    return { keyId: match.keyId, tenant: match.tenant };
  }

  private async lookup(hash: Buffer): Promise<KeyMatch | undefined> {
    const id = cacheId(hash);
    const cached = this.cache.get(id);
    if (cached && cached.until > this.now()) return cached.match;
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    const query = this.keys.findByHash(hash).then(
      (match) => {
        this.remember(id, match);
        return match;
      },
    );
    this.pending.set(id, query);
    try {
      return await query;
    } finally {
      this.pending.delete(id);
    }
  }

  private remember(id: string, match: KeyMatch | undefined): void {
    this.cache.delete(id);
    this.cache.set(id, { match, until: this.now() + this.options.cacheTtlMs });
    while (this.cache.size > this.options.cacheMaxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

function cacheId(hash: Buffer): string {
  return hash.toString('base64');
}

function unauthenticated(): VaultError {
  return new VaultError('UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE);
}
