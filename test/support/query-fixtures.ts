import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type pg from 'pg';
import { BadRequest } from '../../src/gen/google/rpc/error_details';
import { Status } from '../../src/gen/google/rpc/status';
import type { Event } from '../../src/gen/telemetry/v1/event';
import {
  AggregateRequest,
  QueryEventsRequest,
  StreamEventsRequest,
  type AggregateResponse,
  type QueryEventsResponse,
  type QueryServiceClient,
  type StreamEventsResponse,
} from '../../src/gen/telemetry/v1/query_service';
import { AdminService } from '../../src/domain/tenants/admin-service';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { TenantRepository } from '../../src/storage/tenant-repository';
import type { SeedEvent } from './seed-events';
import { withKey } from './test-server';

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** A tenant and one API key for it, made through AdminService on the test database. */
export async function createTenantWithKey(pool: pg.Pool, name: string): Promise<{ tenantId: string; key: string }> {
  const admin = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
  const tenant = await admin.createTenant({ name, callsPerMinute: undefined, eventsPerSecond: undefined, eventBurst: undefined });
  const created = await admin.createKey(tenant.id);
  return { tenantId: tenant.id, key: created.key };
}

function options(deadlineMs: number | undefined): { deadline?: Date } {
  return deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + deadlineMs) };
}

export function queryEvents(client: QueryServiceClient, key: string, request: DeepPartial<QueryEventsRequest>, deadlineMs?: number): Promise<QueryEventsResponse> {
  return new Promise((resolve, reject) =>
    client.queryEvents(QueryEventsRequest.fromPartial(request as never), withKey(key), options(deadlineMs), (error, response) => (error ? reject(error) : resolve(response))),
  );
}

export function aggregate(client: QueryServiceClient, key: string, request: DeepPartial<AggregateRequest>, deadlineMs?: number): Promise<AggregateResponse> {
  return new Promise((resolve, reject) =>
    client.aggregate(AggregateRequest.fromPartial(request as never), withKey(key), options(deadlineMs), (error, response) => (error ? reject(error) : resolve(response))),
  );
}

/** Every message of a StreamEvents call, read as fast as they come. */
export function streamEvents(client: QueryServiceClient, key: string, request: DeepPartial<StreamEventsRequest>): Promise<StreamEventsResponse[]> {
  return new Promise((resolve, reject) => {
    const messages: StreamEventsResponse[] = [];
    const call = client.streamEvents(StreamEventsRequest.fromPartial(request as never), withKey(key));
    call.on('data', (message: StreamEventsResponse) => messages.push(message));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
  });
}

/** Every event of a filter, by walking next_cursor from the first page to the last. */
export async function walkAllPages(client: QueryServiceClient, key: string, request: DeepPartial<QueryEventsRequest>, onPage?: (page: QueryEventsResponse) => Promise<void>): Promise<Event[]> {
  const events: Event[] = [];
  let cursor = '';
  for (;;) {
    const page = await queryEvents(client, key, { ...request, cursor });
    events.push(...page.events);
    await onPage?.(page);
    expect(page.hasMore).toBe(page.nextCursor !== '');
    if (!page.hasMore) return events;
    cursor = page.nextCursor;
  }
}

/** The error of a call expected to fail. */
export async function failureOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** The fields named by the google.rpc.BadRequest in the error's details. */
export function violatedFields(error: ServiceError): string[] {
  const [details] = (error.metadata ?? new Metadata()).get('grpc-status-details-bin');
  if (!(details instanceof Buffer)) return [];
  const status = Status.decode(details);
  return status.details
    .filter((detail) => detail.typeUrl === 'type.googleapis.com/google.rpc.BadRequest')
    .flatMap((detail) => BadRequest.decode(detail.value).fieldViolations.map((violation) => violation.field));
}

/** A Timestamp for microseconds since the epoch. */
export function timestampOf(micros: bigint): { seconds: number; nanos: number } {
  return { seconds: Number(micros / 1_000_000n), nanos: Number(micros % 1_000_000n) * 1000 };
}

/** Microseconds since the epoch of a returned Timestamp. */
export function microsOf(timestamp: { seconds: number; nanos: number } | undefined): bigint {
  if (!timestamp) throw new Error('no timestamp');
  return BigInt(timestamp.seconds) * 1_000_000n + BigInt(timestamp.nanos / 1000);
}

/** The test's reference order: the keyset (timestamp, event_id), newest first unless asked otherwise. */
export function sortReference(events: readonly SeedEvent[], order: 'newest-first' | 'oldest-first' = 'newest-first'): SeedEvent[] {
  const sign = order === 'newest-first' ? -1 : 1;
  return [...events].sort((a, b) => {
    if (a.timestampUs !== b.timestampUs) return a.timestampUs < b.timestampUs ? -sign : sign;
    return a.eventId < b.eventId ? -sign : a.eventId > b.eventId ? sign : 0;
  });
}

/** JSONB containment (@>) for the objects, lists and scalars these tests use. */
export function jsonContains(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) return Array.isArray(value) && pattern.every((item) => value.some((candidate) => jsonContains(candidate, item)));
  if (pattern !== null && typeof pattern === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
    return Object.entries(pattern).every(([key, item]) => key in value && jsonContains((value as Record<string, unknown>)[key], item));
  }
  return value === pattern;
}
