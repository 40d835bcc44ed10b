import { status } from '@grpc/grpc-js';
import type { AuthenticationObserver } from '../domain/auth/call-authentication';
import type { RateLimitObserver } from '../domain/rate-limit/rate-limiter';
import type { CallObserver } from '../transport/grpc/calls/observe-calls';
import type { Metrics } from './create-metrics';

/** The service and method labels of a full method name (`telemetry.v1.IngestService/Ingest`). */
function methodLabels(method: string): { grpc_service: string; grpc_method: string } {
  const [service = '', name = ''] = method.split('/');
  return { grpc_service: service, grpc_method: name };
}

/** Calls by service, method and status code, and their durations. */
export function callMetricsObserver(metrics: Metrics): CallObserver {
  // One label object per method and code (a few dozen), not one per call.
  const labelsByCall = new Map<string, Map<status, { grpc_service: string; grpc_method: string; grpc_code: string }>>();
  const labelsOf = (method: string, code: status) => {
    let byCode = labelsByCall.get(method);
    if (byCode === undefined) labelsByCall.set(method, (byCode = new Map()));
    let labels = byCode.get(code);
    if (labels === undefined) byCode.set(code, (labels = { ...methodLabels(method), grpc_code: status[code] }));
    return labels;
  };
  return {
    finished: (scope, outcome) => {
      const labels = labelsOf(scope.method, outcome.code);
      metrics.grpcHandled.inc(labels);
      metrics.grpcHandlingSeconds.observe(labels, outcome.durationSeconds);
    },
  };
}

/** Calls refused by a rate limit, by bucket and service. */
export function rateLimitMetricsObserver(metrics: Metrics): RateLimitObserver {
  return {
    throttled: (subject, bucket) => metrics.rateLimitRejections.inc({ bucket, grpc_service: methodLabels(subject.method).grpc_service }),
  };
}

/** Failed authentications by outcome: unauthenticated (a bad key), throttled (the address failed too often). */
export function authMetricsObserver(metrics: Metrics): AuthenticationObserver & { throttled(): void } {
  return {
    unauthenticated: () => metrics.authFailures.inc({ outcome: 'unauthenticated' }),
    throttled: () => metrics.authFailures.inc({ outcome: 'throttled' }),
  };
}
