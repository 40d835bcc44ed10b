import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { OtlpSignal } from '../../domain/otlp/otlp-model';
import type { OtlpReceiver } from '../../domain/otlp/otlp-receiver';
import type { CallPipeline } from '../grpc/calls/call-pipeline';
import type { MethodPolicies } from '../grpc/calls/method-policy';
import { assertWellFormed, safeDeserializer } from '../grpc/malformed-message';
import { exportRecords, type OtlpObserver } from './otlp-export';
import { decodeBinary, encodeResponseBinary, OTLP_SCHEMAS, type OtlpRequests } from './otlp-schemas';

/** The three OTLP signals, in the order the services are listed. */
export const OTLP_SIGNALS: readonly OtlpSignal[] = ['logs', 'traces', 'metrics'];

/** The Export method's path of a signal's collector service. */
export function exportPath(signal: OtlpSignal): string {
  return `/${OTLP_SCHEMAS[signal].service}/Export`;
}

/**
 * Admission of Export: like IngestService/Ingest, one unary message whose
 * calls token is taken together with its events (one event per record),
 * reporting the events bucket.
 */
export const OTLP_METHOD_POLICIES: MethodPolicies = new Map(OTLP_SIGNALS.map((signal) => [exportPath(signal), { callsToken: 'with-events', reports: 'events' }] as const));

/** A signal's collector service definition; undecodable bytes reach the handler as a MalformedMessage (INVALID_ARGUMENT). */
export function otlpServiceDefinition(signal: OtlpSignal): ServiceDefinition {
  const { request } = OTLP_SCHEMAS[signal];
  const decode = safeDeserializer(request.typeName, (bytes: Buffer) => decodeBinary(signal, bytes));
  return {
    Export: {
      path: exportPath(signal),
      originalName: 'export',
      requestStream: false,
      responseStream: false,
      requestDeserialize: decode,
      requestSerialize: () => {
        throw new Error('the OTLP services are served, not called');
      },
      responseSerialize: (response: { rejected: number; errorMessage: string }) => Buffer.from(encodeResponseBinary(signal, response.rejected, response.errorMessage)),
      responseDeserialize: () => {
        throw new Error('the OTLP services are served, not called');
      },
    },
  } as unknown as ServiceDefinition;
}

/** The Export handler of a signal's service. */
export function otlpServiceImplementation(signal: OtlpSignal, pipeline: CallPipeline, receiver: OtlpReceiver, observer: OtlpObserver): UntypedServiceImplementation {
  return {
    Export: pipeline.unary<OtlpRequests[typeof signal], { rejected: number; errorMessage: string }>(async (request, ctx, scope) => {
      const outcome = await exportRecords(receiver, observer, 'grpc', ctx, signal, assertWellFormed(request), (status) => {
        scope.rateLimit = status;
      });
      return { rejected: outcome.rejected, errorMessage: outcome.errorMessage };
    }),
  };
}
