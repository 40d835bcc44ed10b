import type { StatementBudget } from '../statement-budget';
import type { EventFilter, SortOrder } from './event-filter';

/** An event as stored, read back. Instants are microseconds since the epoch. */
export interface StoredEvent {
  readonly eventId: string;
  readonly timestampUs: bigint;
  readonly eventType: string;
  readonly serviceName: string;
  /** The payload as an object (when payload_as_json is not asked for). */
  readonly payload: Record<string, unknown> | undefined;
  /** The stored JSON text, unconverted (when payload_as_json is asked for). */
  readonly payloadJson: string | undefined;
  /**
   * Set (to its stored size in bytes) when the payload was too large to read
   * at all, and payload and payloadJson are both undefined: such an event
   * cannot be served (see QueryService).
   */
  readonly unservablePayloadBytes: number | undefined;
  readonly receivedAtUs: bigint;
}

/** A place in the keyset order: the (timestamp, event_id) of the last event returned. */
export interface KeysetPosition {
  readonly timestampUs: bigint;
  readonly eventId: string;
}

/** Which events of which tenant, in which order. */
export interface EventSelection {
  readonly tenantId: string;
  readonly filter: EventFilter;
  readonly order: SortOrder;
  /**
   * The tenant's retention cutoff (RetentionPolicy.cutoffUs), microseconds
   * since the epoch: events before it are past retention and never returned,
   * whether or not they are deleted yet. Undefined = the tenant keeps
   * everything. Every read path (pages, streams, Aggregate by scan or by
   * rollups) applies it; it is not part of a cursor's scope, since it moves
   * with the clock.
   */
  readonly retentionCutoffUs?: bigint | undefined;
}

/** The part of the ordered matches to read. */
export interface PageWindow {
  /** Start strictly after this position (keyset); undefined = from the first match. */
  readonly after?: KeysetPosition | undefined;
  /** Skip this many matches (offset pagination). */
  readonly offset?: number | undefined;
  readonly limit: number;
  readonly payloadAsJson: boolean;
  /** Also count every match, in the same snapshot as the page. */
  readonly countTotal: boolean;
  /**
   * Stop reading once the payloads read (as stored JSON text) reach this
   * many bytes: the rows after the first that reaches it are not read, and
   * Page.truncated says so. Undefined = read `limit` rows whatever their size.
   */
  readonly maxBytes?: number | undefined;
}

export interface Page {
  readonly events: StoredEvent[];
  /** Set when the window asked for it. */
  readonly totalCount: number | undefined;
  /** More rows of the window were left unread at its maxBytes (fewer than `limit` rows came back, and it is not the end). */
  readonly truncated?: boolean;
}

/** Which events Aggregate counts. */
export interface AggregateSelection extends Omit<EventSelection, 'order'> {
  /**
   * The tenant's retention cutoff: events before it are past retention and
   * never counted, even before they are deleted; undefined = none.
   */
  readonly notBeforeUs?: bigint | undefined;
}

/** What Aggregate groups by; all false and no bucket = one row with the total. */
export interface AggregateGrouping {
  readonly byEventType: boolean;
  readonly byServiceName: boolean;
  /** Bucket width in microseconds, buckets aligned to the unix epoch; undefined = no time bucket. */
  readonly bucketUs: bigint | undefined;
}

export interface AggregateCount {
  readonly eventType: string | undefined;
  readonly serviceName: string | undefined;
  readonly bucketStartUs: bigint | undefined;
  readonly count: number;
}

/** Reads events (implemented in storage/, on the read pool). Every read is bound to selection.tenantId. */
export interface EventReader {
  readPage(selection: EventSelection, window: PageWindow, budget: StatementBudget): Promise<Page>;
  /** Counts per group, in group order (bucket, then type, then service), at most `limit` rows. */
  aggregate(selection: AggregateSelection, grouping: AggregateGrouping, limit: number, budget: StatementBudget): Promise<AggregateCount[]>;
}
