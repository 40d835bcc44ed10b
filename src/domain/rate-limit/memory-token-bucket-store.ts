import { takeTokens, type BucketSpec, type BucketState, type TokenBucketStore } from './token-bucket-store';

interface Stored {
  readonly tokens: number;
  readonly updatedAtMs: number;
  /** When this bucket is full again and can be forgotten. */
  readonly fullAtMs: number;
}

export interface MemoryTokenBucketStoreOptions {
  /** How often buckets that have refilled are forgotten. */
  readonly sweepIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * Token buckets in this process's memory: each instance has budgets of its
 * own. Buckets that have refilled are dropped by a periodic sweep (a missing
 * bucket is a full one), so memory follows the number of recently active
 * tenants.
 */
export class MemoryTokenBucketStore implements TokenBucketStore {
  private readonly buckets = new Map<string, Stored>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryTokenBucketStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweeper.unref();
  }

  async take(key: string, spec: BucketSpec, count: number): Promise<BucketState> {
    return this.takeNow(key, spec, count);
  }

  /** The synchronous take (the fallback store needs one that cannot fail). */
  takeNow(key: string, spec: BucketSpec, count: number): BucketState {
    const now = this.now();
    const { tokens, state } = takeTokens(this.buckets.get(key), spec, count, now);
    if (tokens >= spec.capacity) this.buckets.delete(key);
    else this.buckets.set(key, { tokens, updatedAtMs: now, fullAtMs: state.resetAtMs });
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
