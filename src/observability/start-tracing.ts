import { EnvReader } from '../config/env-reader';
import { readTracingSettings, type TracingSettings } from '../config/load-config';
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
 * Starts the OpenTelemetry SDK with the gRPC and pg instrumentations. It must
 * run before @grpc/grpc-js and pg are loaded, so bin/telemetry-vault.js calls
 * it first. Everything else (exporter, endpoint, sampler, service name,
 * resource) comes from the standard OTEL_* variables; only traces are
 * exported (metrics are Prometheus's job). The SDK is required lazily: with
 * tracing off, none of it is even loaded.
 */
export function startTracing(settings: Pick<TracingSettings, 'serviceName'>, options: TracingOptions = {}): Tracing {
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc') as typeof import('@opentelemetry/instrumentation-grpc');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
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

/** Starts tracing when the environment asks for it (see TracingSettings). */
export function startTracingFromEnv(env: Readonly<Record<string, string | undefined>>): Tracing | undefined {
  const settings = readTracingSettings(new EnvReader(env));
  return settings.enabled ? startTracing(settings) : undefined;
}
