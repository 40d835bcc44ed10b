import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  GroupBy,
  QueryServiceService,
  SortOrder,
  type AggregateRequest,
  type EventFilter,
  type QueryEventsRequest,
  type StreamEventsRequest,
} from '../../gen/telemetry/v1/query_service';
import type { EventFilterInput, SortOrder as DomainSortOrder } from '../../domain/query/event-filter';
import type { StoredEvent } from '../../domain/query/event-reader';
import type { AggregateDimension, QueryService } from '../../domain/query/query-service';
import type { LiveTailService } from '../../domain/live-tail/live-tail-service';
import { invalidArgument } from '../../domain/vault-error';
import type { CallPipeline } from './calls/call-pipeline';
import type { MethodPolicies } from './calls/method-policy';
import { assertWellFormed } from './malformed-message';
import type { RequestDecoders } from './wire/request-decoders';
import { serializeAggregateCounts, type AggregateCounts } from './wire/encode-aggregate-response';
import { serializeStoredEventChunk, serializeStoredEventPage, type StoredEventPage } from './wire/encode-query-responses';
import { safeServiceDefinition } from './safe-service-definition';

export const QUERY_SERVICE_NAME = 'telemetry.v1.QueryService';

/** How admission treats QueryService: every call takes its calls token on its metadata, and reports the calls bucket. */
export const QUERY_METHOD_POLICIES: MethodPolicies = new Map(
  ['QueryEvents', 'StreamEvents', 'Aggregate'].map((method) => [`/${QUERY_SERVICE_NAME}/${method}`, { callsToken: 'admission', reports: 'calls' }] as const),
);

/** telemetry.v1.QueryService's definition, with request decoding that never throws (see createRequestDecoders) and fast page and Aggregate encoding. */
export function queryServiceDefinition(decoders: RequestDecoders): ServiceDefinition {
  const definition = safeServiceDefinition(
    QueryServiceService,
    { queryEvents: 'telemetry.v1.QueryEventsRequest', streamEvents: 'telemetry.v1.StreamEventsRequest', aggregate: 'telemetry.v1.AggregateRequest' },
    { queryEvents: decoders.queryEventsRequest, streamEvents: decoders.streamEventsRequest, aggregate: decoders.aggregateRequest },
  );
  // Pages and chunks of stored events, each event encoded once (QueryService measured it to cut the
  // message to GRPC_MAX_RESPONSE_BYTES); Struct payloads by encodeStruct (same bytes as the generated codec, faster: docs/performance.md).
  return {
    ...definition,
    queryEvents: { ...definition.queryEvents!, responseSerialize: serializeStoredEventPage },
    streamEvents: { ...definition.streamEvents!, responseSerialize: serializeStoredEventChunk },
    // The counts straight to bytes, no AggregateRow or Timestamp object per row (a result can have 10 000 rows).
    aggregate: { ...definition.aggregate!, responseSerialize: serializeAggregateCounts },
  };
}

/** The QueryService handlers: protobuf <-> domain mapping around QueryService (and LiveTailService for StreamEvents with follow). */
export function createQueryHandlers(pipeline: CallPipeline, queries: QueryService, liveTail: LiveTailService): UntypedServiceImplementation {
  return {
    queryEvents: pipeline.unary<QueryEventsRequest, StoredEventPage>(async (received, ctx) => {
      const request = assertWellFormed(received);
      const result = await queries.queryEvents(
        {
          filter: toFilterInput(request.filter),
          limit: request.limit,
          cursor: request.cursor,
          page: request.page,
          order: toSortOrder(request.order),
          payloadAsJson: request.payloadAsJson,
        },
        ctx,
      );
      return { events: result.events, nextCursor: result.nextCursor, hasMore: result.hasMore, totalCount: result.totalCount ?? 0 };
    }),
    streamEvents: pipeline.serverStream<StreamEventsRequest, { events: readonly StoredEvent[] }>(async (received, ctx, send, sendHeaders, held) => {
      const request = assertWellFormed(received);
      // Following, an unset order means oldest first (contract section 10).
      const order = request.follow && request.order === SortOrder.SORT_ORDER_UNSPECIFIED ? 'oldest-first' : toSortOrder(request.order);
      const input = { filter: toFilterInput(request.filter), order, maxEvents: request.maxEvents, payloadAsJson: request.payloadAsJson };
      // Headers as soon as the follow is in place: a balancer waits for them with a read timeout (nginx's
      // grpc_read_timeout), and a quiet follow would be cut; once they are sent, the server's keepalive pings keep it.
      if (request.follow) await liveTail.follow(input, ctx, (events) => send({ events }), sendHeaders, held);
      else await queries.streamEvents(input, ctx, (events) => send({ events }), held);
    }),
    aggregate: pipeline.unary<AggregateRequest, AggregateCounts>(async (received, ctx) => {
      const request = assertWellFormed(received);
      return { counts: await queries.aggregate({ filter: toFilterInput(request.filter), groupBy: request.groupBy.map(toDimension), bucket: request.bucket }, ctx) };
    }),
  };
}

function toFilterInput(filter: EventFilter | undefined): EventFilterInput | undefined {
  if (filter === undefined) return undefined;
  return {
    startTime: filter.startTime,
    endTime: filter.endTime,
    eventTypes: filter.eventTypes,
    serviceNames: filter.serviceNames,
    payloadContains: filter.payloadContains,
  };
}

/** Unknown numbers (a newer client's enum values) are refused, never read as the default. */
function toSortOrder(order: SortOrder): DomainSortOrder {
  switch (order) {
    case SortOrder.SORT_ORDER_UNSPECIFIED:
    case SortOrder.SORT_ORDER_NEWEST_FIRST:
      return 'newest-first';
    case SortOrder.SORT_ORDER_OLDEST_FIRST:
      return 'oldest-first';
    default:
      throw invalidArgument('order', `unknown SortOrder value ${String(order)}: use SORT_ORDER_NEWEST_FIRST or SORT_ORDER_OLDEST_FIRST`);
  }
}

function toDimension(groupBy: GroupBy): AggregateDimension {
  switch (groupBy) {
    case GroupBy.GROUP_BY_EVENT_TYPE:
      return 'event-type';
    case GroupBy.GROUP_BY_SERVICE_NAME:
      return 'service-name';
    default:
      throw invalidArgument('group_by', `${groupBy === GroupBy.GROUP_BY_UNSPECIFIED ? 'GROUP_BY_UNSPECIFIED is not a grouping' : `unknown GroupBy value ${String(groupBy)}`}: use GROUP_BY_EVENT_TYPE or GROUP_BY_SERVICE_NAME`);
  }
}
