import { createIngestHandlers, INGEST_METHOD_POLICIES, INGEST_SERVICE_NAME, ingestServiceDefinition } from '../transport/grpc/ingest-handlers';
import { createRequestDecoders } from '../transport/grpc/wire/request-decoders';
import type { Feature } from './feature';
import type { Platform } from './platform';

/** telemetry.v1.IngestService, over the platform's ingestor (see event-ingestion.ts). */
export function createIngestFeature(platform: Platform): Feature {
  const { config, pipeline, ingestor } = platform;
  return {
    services: [
      {
        definition: ingestServiceDefinition(createRequestDecoders(config)),
        implementation: createIngestHandlers(pipeline, ingestor, config.ingest),
        policies: INGEST_METHOD_POLICIES,
        health: { name: INGEST_SERVICE_NAME, database: 'primary' },
      },
    ],
  };
}
