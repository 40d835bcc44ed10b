import { randomBytes } from 'node:crypto';
import { Metadata, status, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo, RetryInfo } from '../../src/gen/google/rpc/error_details';
import { Status } from '../../src/gen/google/rpc/status';
import { AggregateRequest, QueryEventsRequest, StreamEventsRequest, type AggregateResponse, type QueryEventsResponse, type QueryServiceClient, type StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { captureCall, ingestStream, ingestUnary, makeEvent, type CallResult } from './ingest-calls';
import type { TestServer } from './test-server';

/** A well-formed key (`tv_` and 43 base64url characters) that was never issued. */
export function unknownKey(): string {
  return `tv_${randomBytes(32).toString('base64url')}`;
}

/** Metadata with `headers` set (x-api-key, authorization, x-forwarded-for...). */
export function metadataWith(headers: Readonly<Record<string, string>>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return metadata;
}

/** A QueryEvents call (limit 1, no filter) with the given metadata, captured with its headers and trailers. */
export function queryWith(client: QueryServiceClient, metadata: Metadata): Promise<CallResult<QueryEventsResponse>> {
  return captureCall<QueryEventsResponse, ClientUnaryCall>((callback) => client.queryEvents(QueryEventsRequest.fromPartial({ limit: 1 }), metadata, callback));
}

/** A StreamEvents call (no filter) with the given metadata: every message, and the outcome with headers and trailers. */
export function streamWith(client: QueryServiceClient, metadata: Metadata): Promise<CallResult<StreamEventsResponse[]>> {
  return new Promise((resolve) => {
    const messages: StreamEventsResponse[] = [];
    let headers = new Metadata();
    let error: ServiceError | undefined;
    const call = client.streamEvents(StreamEventsRequest.fromPartial({}), metadata);
    call.on('data', (message: StreamEventsResponse) => messages.push(message));
    call.on('metadata', (received: Metadata) => (headers = received));
    call.on('error', (failure: ServiceError) => (error = failure));
    call.on('status', (outcome: { metadata: Metadata }) => setImmediate(() => resolve({ response: error ? undefined : messages, error, headers, trailers: outcome.metadata })));
  });
}

/** One call of each telemetry RPC with the given metadata (one event per ingest call, no filters), by method name. */
export async function callEveryRpc(server: TestServer, metadata: () => Metadata): Promise<Record<string, CallResult<unknown>>> {
  return {
    Ingest: await ingestUnary(server.ingest, metadata(), { events: [makeEvent()] }),
    IngestStream: await ingestStream(server.ingest, metadata(), [{ events: [makeEvent()] }]),
    QueryEvents: await queryWith(server.query, metadata()),
    StreamEvents: await streamWith(server.query, metadata()),
    Aggregate: await captureCall<AggregateResponse, ClientUnaryCall>((callback) => server.query.aggregate(AggregateRequest.fromPartial({}), metadata(), callback)),
  };
}

/** What a client learns from a failed call, decoded: status, message, details, and the metadata it got back. */
export interface Refusal {
  readonly code: string;
  readonly details: string;
  /** The ErrorInfo reason, if the status had one. */
  readonly reason: string | undefined;
  /** The RetryInfo delay in milliseconds, if the status had one. */
  readonly retryDelayMs: number | undefined;
  /** Every header and trailer the server sent, as text (binary values in base64), but x-request-id and date (HTTP/2's clock). */
  readonly metadata: Record<string, string[]>;
}

/** The refusal of a call (code OK when it did not fail). */
export function refusalOf(result: CallResult<unknown>): Refusal {
  const error = result.error;
  const metadata: Record<string, string[]> = {};
  for (const source of [result.headers, result.trailers]) {
    for (const [key, values] of Object.entries(source.toJSON())) {
      if (key === 'x-request-id' || key === 'date') continue;
      metadata[key] = [...(metadata[key] ?? []), ...values.map((value) => (Buffer.isBuffer(value) ? value.toString('base64') : String(value)))];
    }
  }
  let reason: string | undefined;
  let retryDelayMs: number | undefined;
  const details = result.trailers.get('grpc-status-details-bin')[0];
  if (Buffer.isBuffer(details)) {
    for (const detail of Status.decode(details).details) {
      if (detail.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo') reason = ErrorInfo.decode(detail.value).reason;
      if (detail.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') {
        const delay = RetryInfo.decode(detail.value).retryDelay;
        retryDelayMs = (delay?.seconds ?? 0) * 1000 + (delay?.nanos ?? 0) / 1e6;
      }
    }
  }
  return { code: status[error?.code ?? status.OK], details: error?.details ?? '', reason, retryDelayMs, metadata };
}
