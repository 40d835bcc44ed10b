import type { Logger } from '../../observability/create-logger';
import type { MemoryTokenBucketStore } from './memory-token-bucket-store';
import type { BucketSpec, BucketState, BucketTake, TokenBucketStore } from './token-bucket-store';

/** A shared store that can tell when it is not connected (so that takes skip it without waiting). */
export interface SharedTokenBucketStore extends TokenBucketStore {
  readonly connected: boolean;
}

export interface FailoverOptions {
  /** The longest a take waits for the shared store. */
  readonly timeoutMs: number;
  /** After a failure, how long takes stay local before the shared store is tried again. */
  readonly retryIntervalMs: number;
  readonly logger: Logger;
  /** Told when the store starts (true) and stops (false) serving takes from process memory. */
  readonly onDegradedChange?: (degraded: boolean) => void;
  /** Told of every take served from process memory because the shared store failed. */
  readonly onLocalTake?: () => void;
  /** Start as degraded (the shared store did not answer at start-up; that was logged already). */
  readonly initiallyDegraded?: boolean;
  readonly now?: () => number;
}

/**
 * The shared (Redis) store, failing open to process memory: when Redis does
 * not answer within the timeout, is disconnected or errs, the take is served
 * by in-process buckets instead, so that a Redis outage never fails or stalls
 * calls. Limits then hold per instance rather than across instances. One
 * warning is logged when this starts and one line when Redis is back; Redis is
 * retried at most once per retry interval and used again as soon as it
 * answers. The in-process buckets start full, so a tenant may briefly get up
 * to one extra burst per instance during a failover.
 */
export class FailoverTokenBucketStore implements TokenBucketStore {
  private degraded = false;
  private retryAtMs = 0;
  private readonly now: () => number;

  constructor(
    private readonly shared: SharedTokenBucketStore,
    private readonly local: MemoryTokenBucketStore,
    private readonly options: FailoverOptions,
  ) {
    this.now = options.now ?? Date.now;
    if (options.initiallyDegraded) {
      this.degraded = true;
      options.onDegradedChange?.(true);
    }
  }

  /** Whether takes are currently served from process memory. */
  get isDegraded(): boolean {
    return this.degraded;
  }

  async take(key: string, spec: BucketSpec, count: number): Promise<BucketState> {
    const [state] = await this.takeAllWith(this.local, [{ key, spec, count }]);
    return state!;
  }

  takeAll(takes: readonly BucketTake[]): Promise<BucketState[]> {
    return this.takeAllWith(this.local, takes);
  }

  /**
   * A store over the same shared store and the same outage state (one
   * warning, one gauge), whose fallback buckets live in `local`: buckets of
   * another kind (with a cap of their own, say) that must not crowd out these.
   * Closing it closes `local` only.
   */
  alongside(local: MemoryTokenBucketStore): TokenBucketStore {
    return {
      take: async (key, spec, count) => (await this.takeAllWith(local, [{ key, spec, count }]))[0]!,
      takeAll: (takes) => this.takeAllWith(local, takes),
      close: () => local.close(),
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.shared.close(), this.local.close()]);
  }

  private async takeAllWith(local: MemoryTokenBucketStore, takes: readonly BucketTake[]): Promise<BucketState[]> {
    if (!this.shared.connected || (this.degraded && this.now() < this.retryAtMs)) {
      return this.takeLocally(local, takes, undefined);
    }
    try {
      const states = await withTimeout(this.shared.takeAll(takes), this.options.timeoutMs);
      this.setDegraded(false, undefined);
      return states;
    } catch (error) {
      return this.takeLocally(local, takes, error);
    }
  }

  private takeLocally(local: MemoryTokenBucketStore, takes: readonly BucketTake[], error: unknown): BucketState[] {
    if (error !== undefined || !this.degraded) {
      this.retryAtMs = this.now() + this.options.retryIntervalMs;
      this.setDegraded(true, error ?? new Error('not connected'));
    }
    this.options.onLocalTake?.();
    return local.takeAllNow(takes);
  }

  private setDegraded(degraded: boolean, error: unknown): void {
    if (degraded === this.degraded) return;
    this.degraded = degraded;
    if (degraded) {
      this.options.logger.warn({ err: error }, 'rate-limit store (Redis) unavailable: enforcing limits per instance from process memory until it answers again');
    } else {
      this.options.logger.info('rate-limit store (Redis) answers again: limits are shared by all instances again');
    }
    this.options.onDegradedChange?.(degraded);
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
