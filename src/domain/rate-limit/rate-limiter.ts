import type { RateLimitSettings } from '../../config/load-config';
import type { Tenant } from '../tenants/tenant';
import { VaultError } from '../vault-error';
import type { BucketSpec, BucketState, TokenBucketStore } from './token-bucket-store';
import { WaitLine } from './wait-line';

/** The two buckets every tenant has. */
export type BucketName = 'calls' | 'events';

/** What the x-ratelimit-* metadata reports about one bucket. */
export interface RateLimitStatus {
  readonly bucket: BucketName;
  /** The bucket's capacity. */
  readonly limit: number;
  /** Whole tokens left. */
  readonly remaining: number;
  /** When the bucket is full again (epoch milliseconds). */
  readonly resetAtMs: number;
}

/** The outcome of a take: the bucket's status, and whether the tokens were granted. */
export interface RateLimitTake extends RateLimitStatus {
  readonly allowed: boolean;
  readonly retryAfterMs: number;
}

/** A tenant's effective limits: its overrides, else the server-wide defaults. */
export interface TenantLimits {
  readonly calls: BucketSpec;
  readonly events: BucketSpec;
  readonly eventsPerSecond: number;
  readonly callsPerMinute: number;
}

export type RateLimitDefaults = Pick<RateLimitSettings, 'callsPerMinute' | 'eventsPerSecond' | 'eventBurst'>;

/**
 * Per-tenant token buckets for calls and events, over a TokenBucketStore.
 *
 * calls: capacity = calls per minute, refilled evenly over a minute.
 * events: capacity = the burst, refilled at events per second. A tenant that
 * overrides only its rate keeps the default burst-to-rate proportion.
 */
export class RateLimiter {
  /** Callers waiting for tokens, per bucket key; a line is dropped once empty. */
  private readonly lines = new Map<string, WaitLine>();

  constructor(
    private readonly store: TokenBucketStore,
    private readonly defaults: RateLimitDefaults,
    private readonly onThrottled?: (bucket: BucketName) => void,
  ) {}

  limitsFor(tenant: Tenant): TenantLimits {
    const callsPerMinute = tenant.callsPerMinute ?? this.defaults.callsPerMinute;
    const eventsPerSecond = tenant.eventsPerSecond ?? this.defaults.eventsPerSecond;
    const burst =
      tenant.eventBurst ??
      (tenant.eventsPerSecond === undefined
        ? this.defaults.eventBurst
        : Math.max(1, Math.round((tenant.eventsPerSecond * this.defaults.eventBurst) / this.defaults.eventsPerSecond)));
    return {
      calls: { capacity: callsPerMinute, refillPerSecond: callsPerMinute / 60 },
      events: { capacity: burst, refillPerSecond: eventsPerSecond },
      eventsPerSecond,
      callsPerMinute,
    };
  }

  /** Takes `count` tokens from the tenant's bucket (0 reports it without taking). Never throws for a refusal. */
  async take(tenant: Tenant, bucket: BucketName, count: number): Promise<RateLimitTake> {
    const spec = this.limitsFor(tenant)[bucket];
    const state: BucketState = await this.store.take(bucketKey(tenant.id, bucket), spec, count);
    if (!state.allowed) this.onThrottled?.(bucket);
    return { bucket, limit: spec.capacity, remaining: state.remaining, resetAtMs: state.resetAtMs, allowed: state.allowed, retryAfterMs: state.retryAfterMs };
  }

  /**
   * Takes `count` tokens, waiting up to `maxWaitMs` for them (a client
   * stream, held back meanwhile). Callers waiting on one bucket are served in
   * arrival order (see WaitLine), so that many streams of one tenant share
   * its rate instead of some starving. Throws the RESOURCE_EXHAUSTED of
   * throttled() as soon as the tokens cannot be there within the wait (at
   * once when those already in line want more than the wait can bring), and
   * the signal's reason when it aborts. `onTake` sees every take.
   */
  async takeWaiting(tenant: Tenant, bucket: BucketName, count: number, options: { maxWaitMs: number; signal: AbortSignal; onTake: (take: RateLimitTake) => void }): Promise<void> {
    const key = bucketKey(tenant.id, bucket);
    const line = this.lines.get(key) ?? new WaitLine();
    const spec = this.limitsFor(tenant)[bucket];
    const waitUntil = Date.now() + options.maxWaitMs;
    const etaMs = line.etaMs(spec, count, Date.now());
    if (etaMs > options.maxWaitMs) throw this.refusal(tenant, bucket, etaMs);
    this.lines.set(key, line);
    const ticket = line.join(count);
    try {
      if (!(await line.turn(ticket, waitUntil, options.signal))) throw this.refusal(tenant, bucket, line.etaMs(spec, 0, Date.now()));
      for (;;) {
        const take = await this.take(tenant, bucket, count);
        line.saw(take.remaining, Date.now());
        options.onTake(take);
        if (take.allowed) return;
        if (Date.now() + take.retryAfterMs > waitUntil) throw this.throttled(tenant, take);
        await sleep(take.retryAfterMs, options.signal);
      }
    } finally {
      line.leave(ticket);
      if (line.length === 0) this.lines.delete(key);
    }
  }

  /** The RESOURCE_EXHAUSTED for a refused take, with the delay after which it would pass. */
  throttled(tenant: Tenant, take: RateLimitTake): VaultError {
    return this.refusal(tenant, take.bucket, take.retryAfterMs);
  }

  private refusal(tenant: Tenant, bucket: BucketName, retryAfterMs: number): VaultError {
    const limits = this.limitsFor(tenant);
    const rule =
      bucket === 'calls'
        ? `${limits.callsPerMinute} calls per minute`
        : `${limits.eventsPerSecond} events per second with a burst of ${limits.events.capacity}`;
    const seconds = Math.max(0.001, retryAfterMs / 1000);
    return new VaultError('RESOURCE_EXHAUSTED', `rate limit exceeded: this tenant may make ${rule}; retry in ${formatSeconds(seconds)}`, {
      retryAfterMs,
      reason: rateLimitReason(bucket),
    });
  }
}

/** The ErrorInfo reason of a refusal by `bucket`'s limit: RATE_LIMITED_CALLS or RATE_LIMITED_EVENTS. */
export function rateLimitReason(bucket: BucketName): string {
  return `RATE_LIMITED_${bucket.toUpperCase()}`;
}

/** The store key of a tenant's bucket. The braces keep both of a tenant's keys in one Redis Cluster slot. */
export function bucketKey(tenantId: string, bucket: BucketName): string {
  return `tv:rl:{${tenantId}}:${bucket}`;
}

function formatSeconds(seconds: number): string {
  return seconds >= 10 ? `${Math.ceil(seconds)} s` : `${Math.ceil(seconds * 1000) / 1000} s`;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
