import type { Logger } from '../observability/create-logger';
import type { Principal } from './auth/authenticator';
import type { Tenant } from './tenants/tenant';

/**
 * Per-call data, created by the transport for every call and passed down
 * explicitly (never kept in globals). Immutable.
 */
export interface CallContext {
  /** From the `x-request-id` metadata when the client sent a usable one, else generated. */
  readonly requestId: string;
  /** The full method name, e.g. `telemetry.v1.IngestService/IngestStream`. */
  readonly method: string;
  /** A child logger carrying the request id and method (and the tenant once known). */
  readonly logger: Logger;
  /** When the call must be finished (epoch milliseconds); undefined = no deadline. */
  readonly deadline: number | undefined;
  /** Aborted when the client cancels, the deadline passes or the server fails the call; the reason is a VaultError. */
  readonly signal: AbortSignal;
  /** The client's transport address as gRPC reports it (`127.0.0.1:52114`). */
  readonly peer: string;
}

/**
 * The context of a call that passed authentication: the only kind the
 * ingest and query services accept, so that the compiler, not a comment,
 * keeps unauthenticated calls away from tenant data.
 */
export interface AuthenticatedContext extends CallContext {
  readonly principal: Principal;
  /** The caller's tenant (principal.tenant): every read and write is bound to it. */
  readonly tenant: Tenant;
}
