import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { IngestServiceService } from '../../gen/telemetry/v1/ingest_service';
import { VaultError } from '../../domain/vault-error';
import type { CallPipeline } from './call-pipeline';
import { safeServiceDefinition } from './safe-service-definition';

export const INGEST_SERVICE_NAME = 'telemetry.v1.IngestService';

/** telemetry.v1.IngestService's definition, with request decoding that never throws. */
export const ingestServiceDefinition = safeServiceDefinition(IngestServiceService, {
  ingestStream: 'telemetry.v1.IngestStreamRequest',
  ingest: 'telemetry.v1.IngestRequest',
});

/** The IngestService handlers. */
export function createIngestHandlers(pipeline: CallPipeline): UntypedServiceImplementation {
  const notYet = (): never => {
    throw new VaultError('UNIMPLEMENTED', 'ingestion is not implemented yet');
  };
  return {
    ingestStream: pipeline.clientStream(`${INGEST_SERVICE_NAME}/IngestStream`, async () => notYet()),
    ingest: pipeline.unary(`${INGEST_SERVICE_NAME}/Ingest`, async () => notYet()),
  };
}
