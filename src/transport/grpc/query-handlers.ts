import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { QueryServiceService } from '../../gen/telemetry/v1/query_service';
import { VaultError } from '../../domain/vault-error';
import type { CallPipeline } from './call-pipeline';
import { safeServiceDefinition } from './safe-service-definition';

export const QUERY_SERVICE_NAME = 'telemetry.v1.QueryService';

/** telemetry.v1.QueryService's definition, with request decoding that never throws. */
export const queryServiceDefinition = safeServiceDefinition(QueryServiceService, {
  queryEvents: 'telemetry.v1.QueryEventsRequest',
  streamEvents: 'telemetry.v1.StreamEventsRequest',
  aggregate: 'telemetry.v1.AggregateRequest',
});

/** The QueryService handlers. */
export function createQueryHandlers(pipeline: CallPipeline): UntypedServiceImplementation {
  const notYet = (): never => {
    throw new VaultError('UNIMPLEMENTED', 'queries are not implemented yet');
  };
  return {
    queryEvents: pipeline.unary(`${QUERY_SERVICE_NAME}/QueryEvents`, async () => notYet()),
    streamEvents: pipeline.serverStream(`${QUERY_SERVICE_NAME}/StreamEvents`, async () => notYet()),
    aggregate: pipeline.unary(`${QUERY_SERVICE_NAME}/Aggregate`, async () => notYet()),
  };
}
