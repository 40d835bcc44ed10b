import path from 'node:path';
import { credentials, loadPackageDefinition, Metadata, type CallOptions, type ClientUnaryCall, type ClientWritableStream, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type pg from 'pg';
import { BadRequest, RetryInfo } from '../../src/gen/google/rpc/error_details';
import { Status } from '../../src/gen/google/rpc/status';
import type { Event } from '../../src/gen/telemetry/v1/event';
import type { IngestRequest, IngestResponse, IngestServiceClient, IngestStreamRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { AdminService } from '../../src/domain/tenants/admin-service';
import type { RateLimitOverrides } from '../../src/domain/tenants/tenant';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { TenantRepository } from '../../src/storage/tenant-repository';

/** A finished call: the response or the error, with the headers and trailers the server sent. */
export interface CallResult<R> {
  readonly response: R | undefined;
  readonly error: ServiceError | undefined;
  readonly headers: Metadata;
  readonly trailers: Metadata;
}

/** Creates a tenant (with optional rate-limit overrides) and an API key for it. */
export async function createTenantWithKey(pool: pg.Pool, name: string, overrides: Partial<RateLimitOverrides> = {}): Promise<{ key: string; tenantId: string; keyId: string; admin: AdminService }> {
  const admin = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
  const tenant = await admin.createTenant({ name, callsPerMinute: overrides.callsPerMinute, eventsPerSecond: overrides.eventsPerSecond, eventBurst: overrides.eventBurst });
  const created = await admin.createKey(tenant.id);
  return { key: created.key, tenantId: tenant.id, keyId: created.record.id, admin };
}

let sequence = 0;

/** A valid event (now, type "log", a small JSON payload) with the given fields replaced. */
export function makeEvent(overrides: Partial<Event> = {}): Event {
  sequence++;
  const nowMs = Date.now() - 1000;
  return {
    eventId: `evt-${process.pid}-${sequence}-${Math.random().toString(36).slice(2, 10)}`,
    timestamp: { seconds: Math.floor(nowMs / 1000), nanos: (nowMs % 1000) * 1_000_000 },
    eventType: 'log',
    serviceName: 'checkout',
    payloadJson: JSON.stringify({ level: 'info', n: sequence }),
    payload: undefined,
    receivedAt: undefined,
    ...overrides,
  };
}

/** A started call whose callback, headers and status are captured into a CallResult. */
export function captureCall<R, C extends NodeJS.EventEmitter>(start: (callback: (error: ServiceError | null, response?: R) => void) => C, afterStart: (call: C) => void = () => undefined): Promise<CallResult<R>> {
  return new Promise((resolve) => {
    let headers = new Metadata();
    let response: R | undefined;
    let error: ServiceError | undefined;
    const call = start((e, r) => {
      error = e ?? undefined;
      response = r ?? undefined;
    });
    call.on('metadata', (m: Metadata) => (headers = m));
    // The callback may run after 'status': read the outcome one turn later.
    call.on('status', (status: { metadata: Metadata }) => setImmediate(() => resolve({ response, error, headers, trailers: status.metadata })));
    afterStart(call);
  });
}

/** The generated client's unary Ingest, with headers and trailers. */
export function ingestUnary(client: IngestServiceClient, metadata: Metadata, request: IngestRequest, options: Partial<CallOptions> = {}): Promise<CallResult<IngestResponse>> {
  return captureCall<IngestResponse, ClientUnaryCall>((callback) => client.ingest(request, metadata, options, callback));
}

/**
 * The generated client's IngestStream: writes the messages (awaiting drain,
 * so that a server that stops reading holds the writer back), half-closes, and
 * resolves with the outcome. `beforeEach(i)` runs before message i is written.
 */
export function ingestStream(
  client: IngestServiceClient,
  metadata: Metadata,
  messages: readonly IngestStreamRequest[],
  options: Partial<CallOptions> & { beforeEach?: (index: number) => Promise<void> | void } = {},
): Promise<CallResult<IngestResponse>> {
  const { beforeEach, ...callOptions } = options;
  let failed = false;
  return captureCall<IngestResponse, ClientWritableStream<IngestStreamRequest>>(
    (callback) =>
      client.ingestStream(metadata, callOptions, (error, response) => {
        failed = error !== null;
        callback(error, response);
      }),
    (call) => {
      void (async () => {
        for (let i = 0; i < messages.length && !failed; i++) {
          await beforeEach?.(i);
          if (!call.write(messages[i]!)) await new Promise((drained) => call.once('drain', drained));
        }
        call.end();
      })().catch(() => undefined);
    },
  );
}

/** A header or trailer value as a string (undefined when absent). */
export function metadataValue(result: CallResult<unknown>, key: string): string | undefined {
  const value = result.headers.get(key)[0] ?? result.trailers.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/** The IngestService client built from the .proto files alone with @grpc/proto-loader (no generated code). */
export function contractIngestClient(address: string): InstanceType<ServiceClientConstructor> {
  const root = path.resolve(__dirname, '../../proto');
  const definition = loadSync(path.join(root, 'telemetry/v1/ingest_service.proto'), {
    includeDirs: [root],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = loadPackageDefinition(definition) as unknown as { telemetry: { v1: { IngestService: ServiceClientConstructor } } };
  return new loaded.telemetry.v1.IngestService(address, credentials.createInsecure());
}

/** Rows of a tenant's events as stored, in event_id order. */
export async function storedEvents(pool: pg.Pool, tenantId: string): Promise<{ event_id: string; timestamp: Date; ts_text: string; event_type: string; service_name: string; payload: unknown; payload_text: string }[]> {
  const result = await pool.query(
    `SELECT event_id, "timestamp", to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_text, event_type, service_name, payload, payload::text AS payload_text
     FROM events WHERE tenant_id = $1 ORDER BY event_id`,
    [tenantId],
  );
  return result.rows;
}

/** The RetryInfo delay (ms) and BadRequest fields in an error's grpc-status-details-bin, if any. */
export function errorDetails(error: ServiceError): { retryDelayMs: number | undefined; badRequestFields: string[] } {
  const bytes = error.metadata?.get('grpc-status-details-bin')[0];
  if (!(bytes instanceof Buffer)) return { retryDelayMs: undefined, badRequestFields: [] };
  const decoded = Status.decode(bytes);
  let retryDelayMs: number | undefined;
  const badRequestFields: string[] = [];
  for (const detail of decoded.details) {
    if (detail.typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') {
      const delay = RetryInfo.decode(detail.value).retryDelay;
      retryDelayMs = (delay?.seconds ?? 0) * 1000 + (delay?.nanos ?? 0) / 1e6;
    } else if (detail.typeUrl === 'type.googleapis.com/google.rpc.BadRequest') {
      badRequestFields.push(...BadRequest.decode(detail.value).fieldViolations.map((violation) => violation.field));
    }
  }
  return { retryDelayMs, badRequestFields };
}
