import type { BucketName } from '../../../domain/rate-limit/rate-limiter';

/** How the interceptors treat one method of the vault's authenticated services. */
export interface MethodPolicy {
  /**
   * When the call's calls token is taken: `admission`, on the request
   * metadata before any message is read; or `with-events`, by the handler
   * together with the events of the call's one message, in one round trip
   * to the bucket store (unary ingest).
   */
  readonly callsToken: 'admission' | 'with-events';
  /** The bucket the x-ratelimit-* metadata describes: events (ingest) or calls (query). */
  readonly reports: BucketName;
}

/** Policies by the method's full path (`/telemetry.v1.IngestService/Ingest`); methods not listed (health, reflection) pass untouched. */
export type MethodPolicies = ReadonlyMap<string, MethodPolicy>;
