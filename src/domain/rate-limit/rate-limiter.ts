import type { RateLimitSettings } from '../../config/load-config';
import type { Tenant } from '../tenants/tenant';
import { VaultError } from '../vault-error';
import type { BucketSpec, BucketState, TokenBucketStore } from './token-bucket-store';

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

  /** The RESOURCE_EXHAUSTED for a refused take, with the delay after which it would pass. */
  throttled(tenant: Tenant, take: RateLimitTake): VaultError {
    const limits = this.limitsFor(tenant);
    const rule =
      take.bucket === 'calls'
        ? `${limits.callsPerMinute} calls per minute`
        : `${limits.eventsPerSecond} events per second with a burst of ${limits.events.capacity}`;
    const seconds = Math.max(0.001, take.retryAfterMs / 1000);
    return new VaultError('RESOURCE_EXHAUSTED', `rate limit exceeded: this tenant may make ${rule}; retry in ${formatSeconds(seconds)}`, {
      retryAfterMs: take.retryAfterMs,
      reason: rateLimitReason(take.bucket),
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
