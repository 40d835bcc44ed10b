import { randomUUID } from 'node:crypto';
import type { Metadata, status } from '@grpc/grpc-js';
import type { Principal } from '../../../domain/auth/authenticator';
import type { RateLimitStatus } from '../../../domain/rate-limit/rate-limiter';
import type { VaultError } from '../../../domain/vault-error';
import type { Logger } from '../../../observability/create-logger';
import { currentTraceId } from '../../../observability/with-span';

/**
 * What the interceptors and the handler of one call share: who made it, what
 * to send back with it and how it ended. Created by the observing
 * interceptor when the call's metadata arrives, filled by admission, read by
 * the handler's pipeline.
 */
export interface CallScope {
  /** From the `x-request-id` metadata when the client sent a usable one, else generated. */
  readonly requestId: string;
  /** The full method name, e.g. `telemetry.v1.IngestService/Ingest`. */
  readonly method: string;
  readonly peer: string;
  readonly startedAt: bigint;
  /**
   * The call's logger: request id and method, then the tenant once admitted.
   * Made on first use, with every binding known by then (one pino child per
   * call rather than one per binding: most calls log a single line).
   */
  readonly logger: Logger;
  /** Adds fields to the call's log lines from here on (admission: the tenant, or the client's address). */
  bindLog(bindings: Readonly<Record<string, string>>): void;
  /** Set by admission. */
  principal: Principal | undefined;
  /** The bucket the x-ratelimit-* metadata describes, as last taken (admission, then the handler). */
  rateLimit: RateLimitStatus | undefined;
  /** Why the call failed, when it did: for the log line (the client sees only the status). */
  failure: unknown;
  /** Whether a handler is running the call: its own status, not a cancellation, then ends it. */
  handling: boolean;
  /** While a handler runs: stops it, failing the call with `reason` (what it committed stays). Set by the pipeline. */
  abortHandler: ((reason: VaultError) => void) | undefined;
  /**
   * Records how the call ended (log line, metrics), once: the status that is
   * sent, or, for a call the client gave up on, the status its handler
   * stopped with (which can no longer be sent).
   */
  end(status: EndStatus): void;
}

/** How a call ended. */
export interface EndStatus {
  readonly code: status;
  readonly details: string;
}

const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * The scopes of the calls in flight, found by the call's request metadata
 * (the object grpc-js hands from the interceptors to the handler). Weakly
 * held: a scope goes with its call.
 */
export class CallScopes {
  private readonly scopes = new WeakMap<Metadata, CallScope>();

  constructor(private readonly logger: Logger) {}

  open(metadata: Metadata, method: string, peer: string, end: (scope: CallScope, status: EndStatus) => void): CallScope {
    const sent = metadata.get('x-request-id')[0];
    const requestId = typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : randomUUID();
    const traceId = currentTraceId() ?? traceIdOf(metadata);
    const scope = new OpenCallScope(requestId, method, peer, this.logger, traceId ? { requestId, method, traceId } : { requestId, method }, end);
    this.scopes.set(metadata, scope);
    return scope;
  }

  /** The scope of the call whose request metadata this is; undefined for calls no interceptor opened (a wiring bug). */
  of(metadata: Metadata): CallScope | undefined {
    return this.scopes.get(metadata);
  }
}

class OpenCallScope implements CallScope {
  readonly startedAt = process.hrtime.bigint();
  principal: Principal | undefined = undefined;
  rateLimit: RateLimitStatus | undefined = undefined;
  failure: unknown = undefined;
  handling = false;
  abortHandler: ((reason: VaultError) => void) | undefined = undefined;
  private callLogger: Logger | undefined;

  constructor(
    readonly requestId: string,
    readonly method: string,
    readonly peer: string,
    private readonly parentLogger: Logger,
    private bindings: Record<string, string>,
    private readonly ended: (scope: CallScope, status: EndStatus) => void,
  ) {}

  get logger(): Logger {
    return (this.callLogger ??= this.parentLogger.child(this.bindings));
  }

  bindLog(bindings: Readonly<Record<string, string>>): void {
    // A child of a child writes the same line as one child with both bindings, in the same order.
    if (this.callLogger === undefined) this.bindings = { ...this.bindings, ...bindings };
    else this.callLogger = this.callLogger.child(bindings);
  }

  end(status: EndStatus): void {
    this.ended(this, status);
  }
}

/** The trace id of a W3C `traceparent` header, so that log lines correlate with the caller's trace even with tracing off. */
function traceIdOf(metadata: Metadata): string | undefined {
  const header = metadata.get('traceparent')[0];
  const match = typeof header === 'string' ? /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(header.trim()) : null;
  return match && match[1] !== '0'.repeat(32) ? match[1] : undefined;
}
