import type { IngestRequest } from '../../src/gen/telemetry/v1/ingest_service';
import type { DecodedIngestRequest, RequestDecoders } from '../../src/transport/grpc/wire/request-decoders';

/**
 * What the generated decoder gives for the same bytes: the ingest decoder
 * leaves payload_json as its UTF-8 bytes (the hot path never decodes it) and
 * writes most Struct payloads as JSON text (with what it measured of them),
 * so comparisons with the generated decoder read them back first.
 */
export function asGeneratedIngest(request: DecodedIngestRequest): IngestRequest {
  return {
    events: request.events.map(({ payloadStructJson, payloadStructJsonMeasured: _measured, ...event }) => ({
      ...event,
      payload: payloadStructJson === undefined ? event.payload : (JSON.parse(Buffer.from(payloadStructJson).toString('utf8')) as Record<string, unknown>),
      payloadJson: event.payloadJson === undefined ? undefined : Buffer.from(event.payloadJson).toString('utf8'),
    })),
  };
}

/** decoders.ingestRequest, its result as the generated decoder shapes it. */
export function ingestAsGenerated(decoders: RequestDecoders): (bytes: Uint8Array) => IngestRequest {
  return (bytes) => asGeneratedIngest(decoders.ingestRequest(bytes));
}
