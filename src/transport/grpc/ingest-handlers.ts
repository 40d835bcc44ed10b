import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { IngestServiceService, type IngestResponse, type IngestStreamResponse } from '../../gen/telemetry/v1/ingest_service';
import type { EventIngestor } from '../../domain/ingest/event-ingestor';
import type { IncomingEvent, IngestOutcome } from '../../domain/ingest/ingest-event';
import type { IngestSession } from '../../domain/ingest/ingest-session';
import { formatDuration } from '../../config/parse-duration';
import type { IngestSettings } from '../../config/load-config';
import { VaultError } from '../../domain/vault-error';
import type { CallPipeline, HandlerScope } from './calls/call-pipeline';
import type { MethodPolicies } from './calls/method-policy';
import { assertWellFormed, type MalformedMessage } from './malformed-message';
import { MessageReader } from './message-reader';
import type { DecodedEvent, DecodedIngestRequest, RequestDecoders } from './wire/request-decoders';
import { safeServiceDefinition } from './safe-service-definition';

export const INGEST_SERVICE_NAME = 'telemetry.v1.IngestService';
/** The ErrorInfo reason of an IngestStream ended for sending nothing (INGEST_STREAM_IDLE_TIMEOUT). */
export const STREAM_IDLE_REASON = 'STREAM_IDLE_TIMEOUT';

/**
 * How admission treats IngestService: both methods report the events bucket;
 * a stream takes its calls token on its metadata, a unary call together with
 * its events (one round trip to the bucket store per call).
 */
export const INGEST_METHOD_POLICIES: MethodPolicies = new Map([
  [`/${INGEST_SERVICE_NAME}/IngestStream`, { callsToken: 'admission', reports: 'events' }],
  [`/${INGEST_SERVICE_NAME}/Ingest`, { callsToken: 'with-events', reports: 'events' }],
]);

/** telemetry.v1.IngestService's definition, with request decoding that never throws (see createRequestDecoders). */
export function ingestServiceDefinition(decoders: RequestDecoders): ServiceDefinition {
  return safeServiceDefinition(
    IngestServiceService,
    { ingestStream: 'telemetry.v1.IngestStreamRequest', ingest: 'telemetry.v1.IngestRequest' },
    { ingestStream: decoders.ingestRequest, ingest: decoders.ingestRequest },
  );
}

/**
 * The IngestService handlers: protobuf in and out, the work is the domain's
 * IngestSession. An IngestStream that sends no message for
 * `streamIdleTimeoutMs` while the handler waits for one is ended (see
 * streamIdle).
 */
export function createIngestHandlers(pipeline: CallPipeline, ingestor: EventIngestor, settings: Pick<IngestSettings, 'streamIdleTimeoutMs'>): UntypedServiceImplementation {
  const idle = { timeoutMs: settings.streamIdleTimeoutMs, error: () => streamIdle(settings.streamIdleTimeoutMs) };
  return {
    ingestStream: pipeline.clientStream<DecodedIngestRequest, IngestStreamResponse>(async (call, ctx, scope) => {
      const session = ingestor.open(ctx, 'stream');
      const reader = new MessageReader<DecodedIngestRequest | MalformedMessage>(call, idle);
      return run(session, scope, async () => {
        for (let message = await reader.next(session.signal); message !== undefined; message = await reader.next(session.signal)) {
          await session.accept(toIncoming(assertWellFormed(message).events));
        }
      });
    }),
    ingest: pipeline.unary<DecodedIngestRequest, IngestResponse>(async (request, ctx, scope) => {
      const session = ingestor.open(ctx, 'unary');
      return run(session, scope, () => session.accept(toIncoming(assertWellFormed(request).events)));
    }),
  };
}

/**
 * Why a quiet stream is ended. RESOURCE_EXHAUSTED with RetryInfo: the stream
 * held a server resource (a stream slot, a handler) past the server's limit,
 * and a client following the retry rules sends the call again, which it must,
 * since nothing of a failed call is acknowledged. Not DEADLINE_EXCEEDED (the
 * client's own deadline), CANCELLED (the client's own doing) or UNAVAILABLE
 * (a server fault, which alerts count); not a non-retryable code either, or
 * events already stored but never acknowledged would be dropped by the client.
 */
function streamIdle(timeoutMs: number): VaultError {
  return new VaultError(
    'RESOURCE_EXHAUSTED',
    `the stream sent no message for ${formatDuration(timeoutMs)} (INGEST_STREAM_IDLE_TIMEOUT): it is ended and nothing of it is acknowledged; send the whole call again on a new stream`,
    { retryAfterMs: 0, reason: STREAM_IDLE_REASON },
  );
}

/**
 * Feeds the session, then answers its outcome; on any failure the session is
 * abandoned first. Either way the call reports the events bucket as the
 * session last took it.
 */
async function run(session: IngestSession, scope: HandlerScope, feed: () => Promise<void>): Promise<IngestResponse & IngestStreamResponse> {
  try {
    await feed();
    return toResponse(await session.finish());
  } catch (error) {
    await session.abandon(error);
    throw error;
  } finally {
    scope.rateLimit = session.rateLimit ?? scope.rateLimit;
  }
}

/** The decoded Event already has the domain's shape (payload_json as its UTF-8 bytes); this only names the conversion. */
function toIncoming(events: readonly DecodedEvent[]): readonly IncomingEvent[] {
  return events;
}

/** IngestResponse and IngestStreamResponse have the same fields and numbers. */
function toResponse(outcome: IngestOutcome): IngestResponse & IngestStreamResponse {
  return {
    accepted: outcome.accepted,
    duplicates: outcome.duplicates,
    rejected: outcome.rejected,
    rejectedEvents: outcome.rejectedEvents.map((event) => ({ index: event.index, eventId: event.eventId, reason: event.reason })),
  };
}
