import type { Logger } from '../observability/create-logger';
import type { Tenant } from './tenants/tenant';

/**
 * Per-call data, created by the transport for every call and passed down
 * explicitly (never kept in globals).
 */
export interface CallContext {
  /** From the `x-request-id` metadata when the client sent a usable one, else generated. */
  readonly requestId: string;
  /** The full method name, e.g. `telemetry.v1.IngestService/IngestStream`. */
  readonly method: string;
  /** A child logger carrying the request id and method (and the tenant once known). */
  logger: Logger;
  /** When the call must be finished (epoch milliseconds); undefined = no deadline. */
  readonly deadline: number | undefined;
  /** Aborted when the client cancels or the deadline passes; the reason is a VaultError. */
  readonly signal: AbortSignal;
  /**
   * The client's transport address as gRPC reports it (`127.0.0.1:52114`);
   * set by the call pipeline for every call (optional only for contexts made
   * outside it, in tests).
   */
  readonly peer?: string;
  /** The caller's tenant, set by authentication. */
  tenant: Tenant | undefined;
}
