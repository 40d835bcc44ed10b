import type { StatementBudget } from '../statement-budget';
import type { EventSelection, Page, PageWindow, StoredEvent } from '../query/event-reader';

/** The key of a stored event as a commit notice carries it. */
export interface CommittedKey {
  readonly timestampUs: bigint;
  readonly eventId: string;
}

/**
 * What one writer transaction newly stored for one tenant (or part of it:
 * a large transaction sends several notices), delivered once the transaction
 * has committed, in commit order.
 */
export interface CommitNotice {
  /** The writer transaction's id (xid8). */
  readonly xid: bigint;
  readonly tenantId: string;
  readonly keys: readonly CommittedKey[];
}

/**
 * The database snapshot the stored part of a follow was read in: it says
 * whether a transaction's events were already in it (and so were sent with
 * the stored part).
 */
export interface StoredSnapshot {
  includes(xid: bigint): boolean;
}

/** A read-only transaction holding one snapshot, for the stored part of a follow. */
export interface SnapshotSession {
  readonly snapshot: StoredSnapshot;
  readPage(selection: EventSelection, window: PageWindow): Promise<Pick<Page, 'events' | 'truncated'>>;
  /** Ends the transaction and gives its connection back (idempotent, never throws). */
  close(): Promise<void>;
}

/** The commit notices of every tenant, from one dedicated connection per instance (implemented in storage/). */
export interface CommitNoticeSource {
  /** Resolves once notices are being received (connecting when not connected). */
  listen(): Promise<void>;
  /** Every notice, in commit order. */
  onNotice(handler: (notice: CommitNotice) => void): void;
  /** The connection was lost: notices may have been missed. The next listen() connects again. */
  onLost(handler: (error: Error) => void): void;
  close(): Promise<void>;
}

/** The follower registry and the reads of follow mode (implemented in storage/, on the primary). */
export interface LiveTailRepository {
  /**
   * Records that this instance follows `tenantId`, so that writers notify its
   * commits. Waits for every writer transaction in flight: each one that
   * commits after this resolves has seen the registration.
   */
  register(tenantId: string, instanceId: string, ttlMs: number): Promise<void>;
  unregister(tenantId: string, instanceId: string): Promise<void>;
  /** Extends this instance's registrations and deletes expired ones of any instance; returns the tenants still registered for this instance. */
  refresh(instanceId: string, ttlMs: number): Promise<Set<string>>;
  /** Opens a REPEATABLE READ, read-only transaction and records its snapshot. */
  openSnapshot(budget: StatementBudget): Promise<SnapshotSession>;
  /** The events of `keys` that match `selection`, oldest first, read now (the notice's transaction has committed). */
  readKeys(selection: EventSelection, keys: readonly CommittedKey[], payloadAsJson: boolean, budget: StatementBudget): Promise<StoredEvent[]>;
}
