import type { Metadata, ServiceError } from '@grpc/grpc-js';
import {
  GroupBy,
  QueryServiceClient,
  SortOrder,
  type AggregateResponse,
  type EventFilter as WireFilter,
  type QueryEventsResponse,
} from './gen/telemetry/v1/query_service';
import { FramedIngestClient } from './encode-event';
import { channelCredentials, channelOptions, keyMetadata, type ConnectionOptions } from './connection';
import { fromTimestamp, fromWireEvent, toTimestamp, type JsonObject, type VaultEvent } from './convert';
import { Ingester, type IngesterOptions } from './ingester';
import { retryQuery, type QueryRetry, type QueryRetryOptions } from './query-retry';
import { resumableEvents } from './resumable-stream';

/** Which events a query matches (every field optional; absent fields match everything). */
export interface EventFilter {
  /** Inclusive. */
  readonly start?: Date;
  /** Exclusive. */
  readonly end?: Date;
  /** Any of these types. */
  readonly eventTypes?: readonly string[];
  /** Any of these services. */
  readonly serviceNames?: readonly string[];
  /** Payloads containing this JSON object (JSONB @>). */
  readonly payloadContains?: JsonObject;
}

/** Order of (timestamp, event_id). */
export type Order = 'newest-first' | 'oldest-first';

export interface PagesOptions {
  readonly order?: Order;
  /** Events per page, 1..1000 (default 100). */
  readonly limit?: number;
  /** Start after this cursor (a page's nextCursor) instead of at the beginning. */
  readonly cursor?: string;
}

/** One QueryEvents page. */
export interface Page {
  readonly events: VaultEvent[];
  /** Continue from here with pages({ cursor }); empty when there is no more. */
  readonly nextCursor: string;
  readonly hasMore: boolean;
}

export interface EventsOptions {
  /** Stop after this many events (0 or absent: all). */
  readonly maxEvents?: number;
  /** Deadline of the whole stream (default: none, the stream runs as long as it yields). */
  readonly deadlineMs?: number;
  /**
   * Live tail (contract section 10): after the stored matches, keep the stream
   * open and yield each new match once it commits, until the loop is left.
   * Needs order 'oldest-first' (the server refuses 'newest-first').
   */
  readonly follow?: boolean;
}

export type GroupField = 'event_type' | 'service_name';

export interface AggregateOptions {
  readonly groupBy?: readonly GroupField[];
  /** Time bucket width in ms (>= 1000, aligned to the unix epoch). */
  readonly bucketMs?: number;
}

export interface AggregateRow {
  /** Set when grouped by event_type. */
  readonly eventType: string;
  /** Set when grouped by service_name. */
  readonly serviceName: string;
  /** Set when bucketed. */
  readonly bucketStart: Date | undefined;
  readonly count: number;
}

/**
 * A connection to a vault (one channel per client) for one tenant's API key:
 * ingesters and queries. close() when done.
 */
export class VaultClient {
  private readonly ingestClient: FramedIngestClient;
  private readonly queryClient: QueryServiceClient;
  private readonly deadlineMs: number;
  private readonly apiKey: string;
  private readonly queryRetry: QueryRetryOptions;

  constructor(options: ConnectionOptions) {
    if (!options.apiKey) throw new TypeError('apiKey is required');
    this.apiKey = options.apiKey;
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.queryRetry = options.queryRetry ?? {};
    const maxAttempts = this.queryRetry.maxAttempts ?? 5;
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) throw new RangeError(`queryRetry.maxAttempts must be a whole number >= 1, got ${maxAttempts}`);
    const address = options.address ?? 'localhost:50051';
    const creds = channelCredentials(options.tls);
    this.ingestClient = new FramedIngestClient(address, creds, channelOptions(options));
    this.queryClient = new QueryServiceClient(address, creds, { ...channelOptions(options), channelOverride: this.ingestClient.getChannel() });
  }

  /** A batching ingester on this client's channel (docs/sdk.md). */
  ingester(options: IngesterOptions = {}): Ingester {
    return new Ingester(this.ingestClient, () => this.metadata(), this.deadlineMs, options);
  }

  /**
   * Every matching event, in order, over StreamEvents (server-streaming,
   * flow-controlled). A failed stream is resumed after the last event yielded
   * (docs/sdk.md, "Query retries").
   */
  async *events(filter: EventFilter = {}, order: Order = 'newest-first', options: EventsOptions = {}): AsyncGenerator<VaultEvent, void, undefined> {
    const events = resumableEvents(
      { filter: toWireFilter(filter), order: toSortOrder(order), maxEvents: options.maxEvents ?? 0, payloadAsJson: true, follow: options.follow ?? false },
      (request, deadline) => this.queryClient.streamEvents(request, this.metadata(), deadline === undefined ? {} : { deadline }),
      this.queryRetry,
      options.deadlineMs === undefined ? undefined : Date.now() + options.deadlineMs,
    );
    for await (const event of events) yield fromWireEvent(event);
  }

  /** QueryEvents pages, following next_cursor until has_more is false; a failed page is retried with the same cursor. */
  async *pages(filter: EventFilter = {}, options: PagesOptions = {}): AsyncGenerator<Page, void, undefined> {
    let cursor = options.cursor ?? '';
    const wireFilter = toWireFilter(filter);
    for (;;) {
      const response = await this.unary<QueryEventsResponse>('QueryEvents', (metadata, deadline, callback) =>
        this.queryClient.queryEvents({ filter: wireFilter, limit: options.limit ?? 100, cursor, page: 0, order: toSortOrder(options.order ?? 'newest-first'), payloadAsJson: true }, metadata, { deadline }, callback),
      );
      yield { events: response.events.map(fromWireEvent), nextCursor: response.nextCursor, hasMore: response.hasMore };
      if (!response.hasMore || response.nextCursor === '') return;
      cursor = response.nextCursor;
    }
  }

  /** Event counts grouped by type, service and/or time bucket (retried as pages are). */
  async aggregate(filter: EventFilter = {}, options: AggregateOptions = {}): Promise<AggregateRow[]> {
    const groupBy = (options.groupBy ?? []).map((field) => (field === 'event_type' ? GroupBy.GROUP_BY_EVENT_TYPE : GroupBy.GROUP_BY_SERVICE_NAME));
    const bucket = options.bucketMs === undefined ? undefined : { seconds: Math.floor(options.bucketMs / 1000), nanos: (options.bucketMs % 1000) * 1e6 };
    const response = await this.unary<AggregateResponse>('Aggregate', (metadata, deadline, callback) =>
      this.queryClient.aggregate({ filter: toWireFilter(filter), groupBy, bucket }, metadata, { deadline }, callback),
    );
    return response.rows.map((row) => ({ eventType: row.eventType, serviceName: row.serviceName, bucketStart: fromTimestamp(row.bucketStart), count: row.count }));
  }

  /** Closes the channel (end ingesters first: close() them). */
  close(): void {
    this.queryClient.close();
    this.ingestClient.close();
  }

  private metadata(): Metadata {
    return keyMetadata(this.apiKey);
  }

  /** One unary query, retried by the contract's rules; each attempt has its own deadline. */
  private unary<T>(method: QueryRetry['method'], start: (metadata: Metadata, deadline: Date, callback: (error: ServiceError | null, response: T) => void) => void): Promise<T> {
    return retryQuery(method, this.queryRetry, () => new Promise<T>((resolve, reject) => {
      start(this.metadata(), new Date(Date.now() + this.deadlineMs), (error, response) => (error ? reject(error) : resolve(response)));
    }));
  }
}

function toSortOrder(order: Order): SortOrder {
  if (order === 'oldest-first') return SortOrder.SORT_ORDER_OLDEST_FIRST;
  if (order === 'newest-first') return SortOrder.SORT_ORDER_NEWEST_FIRST;
  throw new TypeError(`order must be 'newest-first' or 'oldest-first', got ${String(order)}`);
}

function toWireFilter(filter: EventFilter): WireFilter {
  return {
    startTime: filter.start ? toTimestamp(filter.start) : undefined,
    endTime: filter.end ? toTimestamp(filter.end) : undefined,
    eventTypes: [...(filter.eventTypes ?? [])],
    serviceNames: [...(filter.serviceNames ?? [])],
    payloadContains: filter.payloadContains,
  };
}
