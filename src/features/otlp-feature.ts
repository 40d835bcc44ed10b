import { OtlpReceiver } from '../domain/otlp/otlp-receiver';
import { exportPath, OTLP_METHOD_POLICIES, OTLP_SIGNALS, otlpServiceDefinition, otlpServiceImplementation } from '../transport/otlp/otlp-grpc-services';
import type { OtlpObserver } from '../transport/otlp/otlp-export';
import { startOtlpHttpServer } from '../transport/otlp/otlp-http-server';
import { OTLP_SCHEMAS } from '../transport/otlp/otlp-schemas';
import type { Feature } from './feature';
import type { Platform } from './platform';

/** The OTLP receiver, with the ports it asks main.ts to listen on. */
export interface OtlpFeature extends Feature {
  /** OTLP_GRPC_PORT, for the gRPC server to bind besides GRPC_PORT (empty when off). */
  readonly grpcPorts: readonly number[];
  /** The OTLP/HTTP port it listens on (undefined when OTLP_HTTP_PORT is off). */
  readonly httpPort: number | undefined;
}

/**
 * OpenTelemetry's collector services (contract section 9): LogsService,
 * TraceService and MetricsService Export on the gRPC port (and
 * OTLP_GRPC_PORT), and OTLP/HTTP on OTLP_HTTP_PORT. Each record becomes an
 * event that goes the native ingest way: the same validator and limits, the
 * same rate limiter (one record = one event), and the same group-commit
 * writer as IngestService (see event-ingestion.ts): first write wins.
 */
export async function createOtlpFeature(platform: Platform): Promise<OtlpFeature> {
  const { config, logger, metrics, pipeline, authentication, ingestor } = platform;
  const receiver = new OtlpReceiver(ingestor);
  const records = metrics.otlpRecords;
  const observer: OtlpObserver = {
    exported: (signal, transport, outcome) => {
      records.inc({ signal, transport, outcome: 'stored' }, outcome.accepted);
      records.inc({ signal, transport, outcome: 'duplicate' }, outcome.duplicates);
      records.inc({ signal, transport, outcome: 'rejected' }, outcome.rejected);
    },
  };
  const http =
    config.otlp.httpPort === undefined
      ? undefined
      : await startOtlpHttpServer({
          host: config.grpc.host,
          port: config.otlp.httpPort,
          maxBodyBytes: config.grpc.maxReceiveMessageBytes,
          receiveBudget: platform.receiveBudget,
          connectionLimit: platform.connectionLimit,
          authentication,
          peerHeader: config.auth.failureLimit.peerHeader,
          receiver,
          observer,
          logger: logger.child({ component: 'otlp-http' }),
        });
  if (http) platform.closers.add(http, (started) => started.close());
  if (http) logger.info({ otlpHttpPort: http.port }, 'OTLP/HTTP listening');
  return {
    services: OTLP_SIGNALS.map((signal) => ({
      definition: otlpServiceDefinition(signal),
      implementation: otlpServiceImplementation(signal, pipeline, receiver, observer),
      policies: new Map([[exportPath(signal), OTLP_METHOD_POLICIES.get(exportPath(signal))!]]),
      health: { name: OTLP_SCHEMAS[signal].service, database: 'primary' as const },
    })),
    grpcPorts: config.otlp.grpcPort === undefined ? [] : [config.otlp.grpcPort],
    httpPort: http?.port,
  };
}
