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

/** The outcome of a take of one bucket: its status, and whether the tokens were granted. */
export interface RateLimitTake extends RateLimitStatus {
  readonly allowed: boolean;
  readonly retryAfterMs: number;
}

/** Who takes: the caller's tenant, and the method for the rejection metrics. */
export interface RateLimitSubject {
  readonly tenant: Tenant;
  /** The full method name, e.g. `telemetry.v1.IngestService/Ingest`. */
  readonly method: string;
}

/** Tokens one call takes at once: a calls token, events, or both. */
export interface RateLimitCharge {
  readonly calls?: number;
  readonly events?: number;
}

/** What a take decided. */
export interface RateLimitDecision {
  /** The status of the bucket the caller reports in its x-ratelimit-* metadata. */
  readonly status: RateLimitStatus;
  /** RESOURCE_EXHAUSTED with the delay after which the take would pass, when a bucket refused it. */
  readonly refusal: VaultError | undefined;
}

/** Told of every call refused by a rate limit (for metrics). */
export interface RateLimitObserver {
  throttled(subject: RateLimitSubject, bucket: BucketName): void;
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
    private readonly observer?: RateLimitObserver,
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

  /**
   * Takes a call's tokens in one round trip to the store: the calls token
   * first, then the events, which are not taken when the calls bucket
   * refuses. `report` names the bucket whose status the decision carries
   * (read in the same round trip when the charge does not touch it). A
   * refusal is reported to the observer; it is never thrown.
   */
  async take(subject: RateLimitSubject, charge: RateLimitCharge, report: BucketName): Promise<RateLimitDecision> {
    const limits = this.limitsFor(subject.tenant);
    const buckets: BucketName[] = charge.calls !== undefined ? ['calls'] : [];
    if (charge.events !== undefined || report === 'events') buckets.push('events');
    if (report === 'calls' && !buckets.includes('calls')) buckets.unshift('calls');
    const states = await this.store.takeAll(buckets.map((bucket) => ({ key: bucketKey(subject.tenant.id, bucket), spec: limits[bucket], count: charge[bucket] ?? 0 })));
    const takes = buckets.map((bucket, i) => toTake(bucket, limits[bucket].capacity, states[i]!));
    const refused = takes.find((take) => !take.allowed);
    if (refused) this.observer?.throttled(subject, refused.bucket);
    return { status: takes.find((take) => take.bucket === report)!, refusal: refused && this.refusal(subject.tenant, refused.bucket, refused.retryAfterMs) };
  }

  /**
   * Takes `count` events, waiting up to `maxWaitMs` for them (a client
   * stream, held back meanwhile). Callers waiting on one bucket are served in
   * arrival order (see WaitLine), so that many streams of one tenant share
   * its rate instead of some starving. Throws RESOURCE_EXHAUSTED as soon as
   * the tokens cannot be there within the wait (at once when those already in
   * line want more than the wait can bring), and the signal's reason when it
   * aborts. `onTake` sees every take (its bucket's status).
   */
  async takeWaiting(subject: RateLimitSubject, count: number, options: { maxWaitMs: number; signal: AbortSignal; onTake: (take: RateLimitTake) => void }): Promise<void> {
    const { tenant } = subject;
    const key = bucketKey(tenant.id, 'events');
    const line = this.lines.get(key) ?? new WaitLine();
    const spec = this.limitsFor(tenant).events;
    const waitUntil = Date.now() + options.maxWaitMs;
    const etaMs = line.etaMs(spec, count, Date.now());
    if (etaMs > options.maxWaitMs) throw this.throttled(subject, etaMs);
    this.lines.set(key, line);
    const ticket = line.join(count);
    try {
      if (!(await line.turn(ticket, waitUntil, options.signal))) throw this.throttled(subject, line.etaMs(spec, 0, Date.now()));
      for (;;) {
        const take = toTake('events', spec.capacity, await this.store.take(key, spec, count));
        line.saw(take.remaining, Date.now());
        options.onTake(take);
        if (take.allowed) return;
        if (Date.now() + take.retryAfterMs > waitUntil) throw this.throttled(subject, take.retryAfterMs);
        await sleep(take.retryAfterMs, options.signal);
      }
    } finally {
      line.leave(ticket);
      if (line.length === 0) this.lines.delete(key);
    }
  }

  /** A stream's final refusal by its events bucket, reported to the observer. */
  private throttled(subject: RateLimitSubject, retryAfterMs: number): VaultError {
    this.observer?.throttled(subject, 'events');
    return this.refusal(subject.tenant, 'events', retryAfterMs);
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

function toTake(bucket: BucketName, limit: number, state: BucketState): RateLimitTake {
  return { bucket, limit, remaining: state.remaining, resetAtMs: state.resetAtMs, allowed: state.allowed, retryAfterMs: state.retryAfterMs };
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
