import type { Metadata } from '@grpc/grpc-js';
import type { CallContext } from '../../domain/call-context';
import type { BucketName, RateLimiter, RateLimitStatus } from '../../domain/rate-limit/rate-limiter';
import type { CallAdmission } from './call-pipeline';

/**
 * Every call takes one token of its tenant's calls bucket. The response
 * metadata describes `reported`: the calls bucket (QueryService) or the events
 * bucket (IngestService, whose handlers update it after each take). Runs after
 * authentication.
 */
export class RateLimitAdmission implements CallAdmission {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly reported: BucketName,
  ) {}

  async admit(ctx: CallContext, _metadata: Metadata, responseMetadata: Metadata): Promise<void> {
    const tenant = ctx.tenant;
    if (!tenant) throw new Error('rate limits need an authenticated call: put RateLimitAdmission after authentication');
    const [call, events] = await Promise.all([
      this.limiter.take(tenant, 'calls', 1),
      this.reported === 'events' ? this.limiter.take(tenant, 'events', 0) : undefined,
    ]);
    setRateLimitMetadata(responseMetadata, events ?? call);
    if (!call.allowed) throw this.limiter.throttled(tenant, call);
  }
}

/** Writes x-ratelimit-limit, x-ratelimit-remaining and x-ratelimit-reset (unix seconds). */
export function setRateLimitMetadata(metadata: Metadata, status: RateLimitStatus): void {
  metadata.set('x-ratelimit-limit', String(status.limit));
  metadata.set('x-ratelimit-remaining', String(Math.max(0, status.remaining)));
  metadata.set('x-ratelimit-reset', String(Math.ceil(status.resetAtMs / 1000)));
}
