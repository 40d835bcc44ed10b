/** A token bucket's shape: it holds at most `capacity` tokens and regains `refillPerSecond` per second. */
export interface BucketSpec {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

/** A bucket after a take. */
export interface BucketState {
  /** Whether the tokens were taken; a refused take takes nothing. */
  readonly allowed: boolean;
  /** Whole tokens left. */
  readonly remaining: number;
  /** When refused: how long until the requested tokens are there (0 when allowed). */
  readonly retryAfterMs: number;
  /** When the bucket will be full again (epoch milliseconds). */
  readonly resetAtMs: number;
}

/** One take of `count` tokens from the bucket stored under `key`. */
export interface BucketTake {
  readonly key: string;
  readonly spec: BucketSpec;
  readonly count: number;
}

/**
 * Where buckets live: process memory, or Redis so that every instance shares
 * them. A take is atomic: it refills the bucket for the time passed, then
 * takes `count` tokens if there are that many, else none. A take of 0 tokens
 * reports the bucket without changing it; a negative count gives tokens back
 * (a reservation that turned out not to be needed), never beyond the
 * capacity, and is always allowed. A bucket nobody used for as long as it
 * needs to refill is full, so stores may forget idle buckets.
 */
export interface TokenBucketStore {
  take(key: string, spec: BucketSpec, count: number): Promise<BucketState>;
  /**
   * Several takes in one atomic step (one round trip to a shared store), in
   * order: once one is refused, the ones after it only report their buckets
   * (as a take of 0 would), so that a call refused by one bucket spends
   * nothing from the next. The states come back in the same order.
   */
  takeAll(takes: readonly BucketTake[]): Promise<BucketState[]>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/**
 * The arithmetic of one take, shared by the stores that keep (tokens,
 * updatedAt) pairs: refill for the time passed (never above capacity, never
 * backwards when a clock steps back), then take or refuse.
 */
export function takeTokens(
  stored: { readonly tokens: number; readonly updatedAtMs: number } | undefined,
  spec: BucketSpec,
  count: number,
  nowMs: number,
): { readonly tokens: number; readonly state: BucketState } {
  const perMs = spec.refillPerSecond / 1000;
  const elapsed = stored === undefined ? 0 : Math.max(0, nowMs - stored.updatedAtMs);
  const before = stored === undefined ? spec.capacity : Math.min(spec.capacity, stored.tokens + elapsed * perMs);
  const allowed = count <= before;
  const tokens = allowed ? Math.min(spec.capacity, before - count) : before;
  const retryAfterMs = allowed ? 0 : Math.ceil((count - before) / perMs);
  const resetAtMs = nowMs + Math.ceil((spec.capacity - tokens) / perMs);
  return { tokens, state: { allowed, remaining: Math.floor(tokens), retryAfterMs, resetAtMs } };
}
