import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A started tracing SDK: shut it down last, so that the final spans are exported. */
export interface Tracing {
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Span processors replacing the exporter configured by OTEL_* (tests pass an in-memory one). */
  readonly spanProcessors?: SpanProcessor[];
}

/** Health checks and reflection would only add noise to the traces. */
const UNTRACED_METHODS = ['Check', 'Watch', 'List', 'ServerReflectionInfo'];

/**
 * Whether the standard OTEL_* variables ask for traces: an OTLP endpoint, or a
 * traces exporter other than `none`, and the SDK not disabled.
 */
export function tracingRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter && exporter !== 'none') return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && exporter !== 'none';
}

/**
 * Starts the OpenTelemetry SDK with the gRPC and pg instrumentations. It must
 * run before @grpc/grpc-js and pg are loaded, so bin/telemetry-vault.js calls
 * it first. Everything else (exporter, endpoint, sampler, service name,
 * resource) comes from the standard OTEL_* variables; only traces are
 * exported (metrics are Prometheus's job). The SDK is required lazily: with
 * tracing off, none of it is even loaded.
 */
export function startTracing(env: Readonly<Record<string, string | undefined>>, options: TracingOptions = {}): Tracing {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc') as typeof import('@opentelemetry/instrumentation-grpc');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'telemetry-vault',
    instrumentations: [
      new GrpcInstrumentation({ ignoreGrpcMethods: UNTRACED_METHODS }),
      // Only queries made on behalf of a traced call; never the bound parameters (payloads).
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    ],
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/** Starts tracing when the environment asks for it (see tracingRequested). */
export function startTracingFromEnv(env: Readonly<Record<string, string | undefined>>): Tracing | undefined {
  return tracingRequested(env) ? startTracing(env) : undefined;
}
