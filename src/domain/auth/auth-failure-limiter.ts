import type { AuthFailureSettings } from '../../config/load-config';
import type { BucketSpec, TokenBucketStore } from '../rate-limit/token-bucket-store';
import { VaultError } from '../vault-error';

/** The failed-authentication budget of one client address: AUTH_FAILURES_PER_MINUTE (0 = off) and AUTH_FAILURE_BURST. */
export type AuthFailureLimitSettings = Pick<AuthFailureSettings, 'perMinute' | 'burst'>;

/** The ErrorInfo reason of a call refused because its address failed authentication too often. */
export const AUTH_FAILURE_LIMIT_REASON = 'RATE_LIMITED_AUTH_FAILURES';

/**
 * Slows down key guessing: each client address has a token bucket that only
 * failed authentications drain. A call whose key has to be checked first
 * reserves a token; a key that turns out valid (or a check that fails for
 * another reason, the database being down) gives it back, a refused key keeps
 * it spent. When the bucket is empty the call is refused with
 * RESOURCE_EXHAUSTED and RetryInfo before its key is looked at: a throttled
 * guesser learns nothing about the keys it sends, and the database is spared
 * the lookups. The reservation is taken before the check, so concurrent
 * guesses cannot overdraw the budget.
 */
export class AuthFailureLimiter {
  private readonly spec: BucketSpec;

  constructor(
    private readonly store: TokenBucketStore,
    private readonly settings: AuthFailureLimitSettings,
    /** Told of every call refused because its address's budget was spent (for metrics). */
    private readonly onThrottled: () => void = () => undefined,
  ) {
    this.spec = { capacity: settings.burst, refillPerSecond: settings.perMinute / 60 };
  }

  /** Runs `authenticate` for a call from `address` within that address's budget of failures. */
  async guard<T>(address: string, authenticate: () => Promise<T>): Promise<T> {
    if (this.settings.perMinute === 0) return authenticate();
    const key = authFailureBucketKey(address);
    const reservation = await this.store.take(key, this.spec, 1);
    if (!reservation.allowed) {
      this.onThrottled();
      throw this.refusal(reservation.retryAfterMs);
    }
    let refused = false;
    try {
      return await authenticate();
    } catch (error) {
      refused = error instanceof VaultError && error.code === 'UNAUTHENTICATED';
      throw error;
    } finally {
      if (!refused) await this.store.take(key, this.spec, -1);
    }
  }

  private refusal(retryAfterMs: number): VaultError {
    const { perMinute, burst } = this.settings;
    return new VaultError(
      'RESOURCE_EXHAUSTED',
      `too many failed authentications from this address (at most ${burst} in a row, then ${perMinute} per minute); retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`,
      { retryAfterMs, reason: AUTH_FAILURE_LIMIT_REASON },
    );
  }
}

/** The store key of an address's failure bucket (braces: one Redis Cluster slot per address). */
export function authFailureBucketKey(address: string): string {
  return `tv:af:{${address}}`;
}
