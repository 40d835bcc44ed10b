import { Metadata, ServerInterceptingCall, status, type ServerInterceptor, type StatusObject } from '@grpc/grpc-js';
import type { RateLimitStatus } from '../../../domain/rate-limit/rate-limiter';
import type { CallScope, CallScopes, EndStatus } from './call-scopes';
import type { MethodPolicies } from './method-policy';

/** How a call ended, for metrics. */
export interface CallOutcome {
  readonly code: status;
  readonly durationSeconds: number;
}

/** Told once per finished call (metrics). */
export interface CallObserver {
  finished(scope: CallScope, outcome: CallOutcome): void;
}

/**
 * The outermost interceptor of the vault's services: opens each call's
 * scope when its metadata arrives, adds `x-request-id` and the x-ratelimit-*
 * metadata to what goes back (headers, or the trailers of a trailers-only
 * response), and writes one log line and one observation per finished call,
 * whoever ended it: the handler, admission, or a cancellation.
 */
export function observeCalls(scopes: CallScopes, policies: MethodPolicies, observer: CallObserver): ServerInterceptor {
  return (descriptor, call) => {
    if (!policies.has(descriptor.path)) return new ServerInterceptingCall(call);
    const method = descriptor.path.slice(1);
    let scope: CallScope | undefined;
    let headersSent = false;
    let finished = false;
    const finish = (ended: CallScope, { code, details }: EndStatus): void => {
      if (finished) return;
      finished = true;
      logFinished(ended, code, details);
      observer.finished(ended, { code, durationSeconds: secondsSince(ended.startedAt) });
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            scope = scopes.open(metadata, method, call.getPeer(), finish);
            nextMetadata(metadata);
          },
          onCancel: () => {
            // A running handler ends the call with its own status (DEADLINE_EXCEEDED, CANCELLED) once it has stopped.
            // grpc-js also reports the close of every finished call as a cancel: nothing to record then.
            if (scope === undefined || scope.handling || finished) return;
            const deadline = call.getDeadline();
            const passed = deadline instanceof Date ? deadline.getTime() <= Date.now() : Number.isFinite(deadline) && deadline <= Date.now();
            finish(scope, passed ? { code: status.DEADLINE_EXCEEDED, details: 'the call ran past its deadline' } : { code: status.CANCELLED, details: 'the client cancelled the call' });
          },
        }),
      sendMetadata: (metadata, next) => {
        headersSent = true;
        if (scope) addResponseMetadata(metadata, scope);
        next(metadata);
      },
      sendStatus: (sent, next) => {
        const metadata = sent.metadata ?? new Metadata();
        if (scope && !headersSent) addResponseMetadata(metadata, scope);
        if (scope) finish(scope, sent);
        next({ ...sent, metadata });
      },
    });
  };
}

function addResponseMetadata(metadata: Metadata, scope: CallScope): void {
  metadata.set('x-request-id', scope.requestId);
  if (scope.rateLimit) setRateLimitMetadata(metadata, scope.rateLimit);
}

/** Writes x-ratelimit-limit, x-ratelimit-remaining and x-ratelimit-reset (unix seconds). */
export function setRateLimitMetadata(metadata: Metadata, rateLimit: RateLimitStatus): void {
  metadata.set('x-ratelimit-limit', String(rateLimit.limit));
  metadata.set('x-ratelimit-remaining', String(Math.max(0, rateLimit.remaining)));
  metadata.set('x-ratelimit-reset', String(Math.ceil(rateLimit.resetAtMs / 1000)));
}

/** One line per call: info when it succeeded or was refused, error (with the cause) when it failed inside the server. */
function logFinished(scope: CallScope, code: status, details: StatusObject['details']): void {
  const fields = { code: status[code], durationMs: Math.round(secondsSince(scope.startedAt) * 1e6) / 1e3 };
  if (code === status.OK) {
    scope.logger.info(fields, 'call finished');
  } else if (code === status.INTERNAL || code === status.UNKNOWN) {
    scope.logger.error({ ...fields, err: scope.failure }, 'call failed');
  } else {
    scope.logger.info({ ...fields, reason: details }, 'call failed');
  }
}

function secondsSince(startedAt: bigint): number {
  return Number(process.hrtime.bigint() - startedAt) / 1e9;
}
