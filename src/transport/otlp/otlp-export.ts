import type { AuthenticatedContext } from '../../domain/call-context';
import { mapLogs, mapMetrics, mapTraces, type MappedRequest } from '../../domain/otlp/map-otlp';
import type { ExportLogsRequest, OtlpSignal } from '../../domain/otlp/otlp-model';
import type { OtlpExportOutcome, OtlpReceiver } from '../../domain/otlp/otlp-receiver';
import type { RateLimitStatus } from '../../domain/rate-limit/rate-limiter';
import { MappedLogs, type OtlpRequests } from './otlp-schemas';

/** What the OTLP transports report, for metrics. */
export interface OtlpObserver {
  exported(signal: OtlpSignal, transport: 'grpc' | 'http', outcome: OtlpExportOutcome): void;
}

/** Maps a decoded request of `signal` to events (receipt time: now), unless the decoder already did (MappedLogs). */
export function mapRequest<S extends OtlpSignal>(signal: S, request: OtlpRequests[S] | MappedLogs): MappedRequest {
  if (request instanceof MappedLogs) return request.mapped;
  const receivedAtNanos = BigInt(Date.now()) * 1_000_000n;
  switch (signal) {
    case 'logs':
      return mapLogs(request as ExportLogsRequest, receivedAtNanos);
    case 'traces':
      return mapTraces(request as OtlpRequests['traces']);
    default:
      return mapMetrics(request as OtlpRequests['metrics'], receivedAtNanos);
  }
}

/** One export, whichever the transport: map, ingest, observe. */
export async function exportRecords<S extends OtlpSignal>(
  receiver: OtlpReceiver,
  observer: OtlpObserver,
  transport: 'grpc' | 'http',
  ctx: AuthenticatedContext,
  signal: S,
  request: OtlpRequests[S] | MappedLogs,
  onRateLimit: (status: RateLimitStatus) => void,
): Promise<OtlpExportOutcome> {
  const outcome = await receiver.receive(ctx, signal, mapRequest(signal, request), onRateLimit);
  observer.exported(signal, transport, outcome);
  if (outcome.rejected > 0) ctx.logger.info({ signal, records: outcome.records, rejected: outcome.rejected }, 'OTLP export partly rejected');
  return outcome;
}
