import { takeTokens, type BucketSpec, type BucketState, type BucketTake, type TokenBucketStore } from './token-bucket-store';

interface Stored {
  readonly tokens: number;
  readonly updatedAtMs: number;
  /** When this bucket is full again and can be forgotten. */
  readonly fullAtMs: number;
}

/** RATE_LIMIT_MEMORY_SWEEP_INTERVAL's default, for stores made without the setting (tests, tools). */
const DEFAULT_SWEEP_INTERVAL_MS = 60_000;

export interface MemoryTokenBucketStoreOptions {
  /** How often buckets that have refilled are forgotten. */
  readonly sweepIntervalMs?: number;
  /**
   * Most buckets remembered; past it the least recently used one is forgotten
   * (that is, starts full again). Unbounded when omitted: tenants' buckets
   * follow the number of tenants, while buckets keyed by something a client
   * chooses (its address) need the cap.
   */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/**
 * Token buckets in this process's memory: each instance has budgets of its
 * own. Buckets that have refilled are dropped by a periodic sweep (a missing
 * bucket is a full one), so memory follows the number of recently active
 * tenants (or, with `maxEntries`, stays under a cap).
 */
export class MemoryTokenBucketStore implements TokenBucketStore {
  private readonly buckets = new Map<string, Stored>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxEntries: number;

  constructor(options: MemoryTokenBucketStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async take(key: string, spec: BucketSpec, count: number): Promise<BucketState> {
    return this.takeNow(key, spec, count);
  }

  async takeAll(takes: readonly BucketTake[]): Promise<BucketState[]> {
    return this.takeAllNow(takes);
  }

  /** The synchronous takeAll (the fallback store needs one that cannot fail). */
  takeAllNow(takes: readonly BucketTake[]): BucketState[] {
    let refused = false;
    return takes.map(({ key, spec, count }) => {
      const state = this.takeNow(key, spec, refused ? 0 : count);
      refused ||= !state.allowed;
      return state;
    });
  }

  /** The synchronous take (the fallback store needs one that cannot fail). */
  takeNow(key: string, spec: BucketSpec, count: number): BucketState {
    const now = this.now();
    const { tokens, state } = takeTokens(this.buckets.get(key), spec, count, now);
    // Deleting first moves an updated bucket to the end: the Map's order is least recently used first.
    this.buckets.delete(key);
    if (tokens < spec.capacity) this.buckets.set(key, { tokens, updatedAtMs: now, fullAtMs: state.resetAtMs });
    // No iterator per take unless the store is over its bound.
    if (this.buckets.size > this.maxEntries) {
      for (const oldest of this.buckets.keys()) {
        if (this.buckets.size <= this.maxEntries) break;
        this.buckets.delete(oldest);
      }
    }
    return state;
  }

  /** Buckets currently remembered (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  /** Forgets every bucket that has refilled by now. */
  sweep(): void {
    const now = this.now();
    for (const [key, stored] of this.buckets) if (stored.fullAtMs <= now) this.buckets.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
