import pg from 'pg';
import type { EventSink, StoredGroup, ValidEvent, WriteOptions, WriteResult } from '../domain/ingest/ingest-event';
import { pastDeadline } from '../domain/statement-budget';
import { VaultError } from '../domain/vault-error';
import { withSpan } from '../observability/with-span';
import { CLIENT_CONNECTION_CHECK_INTERVAL_MS, withConnection } from './database-session';
import { COPY_COLUMNS, encodeCopyChunks } from './encode-copy-text';
import { LIVE_TAIL_NOTIFY_CTE, LIVE_TAIL_WRITER_LOCK } from './live-tail-notify';
import { ROLLUP_DELTAS_CTE } from './event-rollups-sql';
import { isMissingPartition, PartitionsOnDemand, type PartitionsOnDemandOptions } from './event-partitions';
import { DATABASE_RETRY_AFTER_MS } from './map-pg-error';
import { runOneRoundTripCopy, type ScriptRows } from './one-round-trip-copy';

/**
 * The staging table, one per connection (TEMP), emptied by every commit.
 * `member` is the 1-based position of a call's batch in its group (see
 * MERGE). payload is jsonb already so that COPY parses each payload once.
 * (This and the two statements below are exported for the benchmark's
 * PostgreSQL ceiling, which must run exactly the server's statements.)
 */
export const CREATE_STAGING = `CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
  member int NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  ts timestamptz NOT NULL,
  event_type text COLLATE "C" NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  payload jsonb NOT NULL
) ON COMMIT DELETE ROWS`;

// ---- scale (issue 17): the staging table under a transaction-mode pooler ----
/**
 * The same staging table created inside each transaction and dropped by its
 * commit or rollback, for DATABASE_TRANSACTION_POOLING: behind PgBouncer in
 * transaction mode consecutive transactions of one of our connections run on
 * different server sessions, so a session's TEMP table cannot be relied on.
 */
export const CREATE_STAGING_PER_TRANSACTION = CREATE_STAGING.replace('ON COMMIT DELETE ROWS', 'ON COMMIT DROP');
// ---- end scale ----

export const COPY_INTO_STAGING = `COPY ingest_staging (${COPY_COLUMNS.join(', ')}) FROM STDIN`;

/**
 * The merge of a group. $1 lists each member's tenant (member i is
 * $1[i]). Within the group the first member to carry a (tenant, event_id)
 * wins (DISTINCT ON ... ORDER BY member: members are numbered in arrival
 * order); against what is stored, the first write of (tenant, event_id)
 * within a partition wins and rows already there are skipped (ON CONFLICT
 * with no target arbitrates on each partition's own UNIQUE (tenant_id,
 * event_id): events, partitioned by timestamp, can have no unique index
 * without it; README, "Exactly-once"). Rows go in (tenant_id, event_id) order so that
 * concurrent groups carrying the same ids take the unique index's locks in
 * the same order and cannot deadlock. The result counts what each member
 * newly stored, by event type and service. `live_tail` notifies followers
 * of the rows stored (see live-tail-notify.ts; nothing when nobody follows).
 * ROLLUP_DELTAS_CTE adds the newly stored rows' per-minute counts to the
 * rollups, in this statement.
 */
export const MERGE = `WITH staged AS (
  SELECT DISTINCT ON (m.tenant_id, s.event_id) m.tenant_id, s.member, s.event_id, s.ts, s.event_type, s.service_name, s.payload
  FROM ingest_staging s JOIN unnest($1::uuid[]) WITH ORDINALITY AS m(tenant_id, member) ON m.member = s.member
  ORDER BY m.tenant_id, s.event_id, s.member
), inserted AS (
  INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
  SELECT tenant_id, event_id, ts, event_type, service_name, payload FROM staged ORDER BY tenant_id, event_id
  ON CONFLICT DO NOTHING
  RETURNING tenant_id, event_id
), ${LIVE_TAIL_NOTIFY_CTE}${ROLLUP_DELTAS_CTE}
SELECT s.member, s.event_type, s.service_name, count(*)::int AS stored
FROM inserted i JOIN staged s ON s.tenant_id = i.tenant_id AND s.event_id = i.event_id CROSS JOIN live_tail
GROUP BY s.member, s.event_type, s.service_name`;

/** MERGE's parameters for a group whose member i (1-based, the staging table's member column) belongs to tenantIds[i - 1]. */
export function mergeArguments(tenantIds: readonly string[]): unknown[] {
  return [tenantIds];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * MERGE with its tenant list written in as an array literal, for the
 * writer's one-round-trip script (a simple-query message carries no
 * parameters). The values are tenant ids from our own tenants table, checked
 * to be UUIDs all the same, so nothing a client sent is ever spliced in.
 */
export function mergeWithTenants(tenantIds: readonly string[], merge = MERGE): string {
  return merge.replaceAll('$1::uuid[]', tenantArrayLiteral(tenantIds));
}

function tenantArrayLiteral(tenantIds: readonly string[]): string {
  for (const id of tenantIds) if (!UUID.test(id)) throw new Error(`not a tenant id: ${JSON.stringify(id)}`);
  return `'{${tenantIds.join(',')}}'::uuid[]`;
}

/**
 * MERGE as a prepared statement of the session, so that PostgreSQL plans it
 * once per connection instead of once per group: planning the merge (its
 * CTEs, the rollups' and live tail's included) cost more database CPU than
 * running it for a group of 10 events (docs/architecture.md, "Live tail
 * with nobody following"). A new or dropped partition of events invalidates the plan, and
 * PostgreSQL plans it again by itself. Not under DATABASE_TRANSACTION_POOLING,
 * where consecutive transactions run on different server sessions.
 */
export const PREPARE_MERGE = `PREPARE telemetry_vault_merge(uuid[]) AS ${MERGE}`;

/**
 * The prepared MERGE's execution for a group (same parameters as
 * mergeWithTenants); `statement` names another merge prepared the same way
 * (the bench's merge without live tail).
 */
export function executeMerge(tenantIds: readonly string[], statement = 'telemetry_vault_merge'): string {
  return `EXECUTE ${statement}(${tenantArrayLiteral(tenantIds)})`;
}

/** What a writer connection's session is given once, before its first group: the staging table and the prepared merge. */
export const WRITER_SESSION_SETUP = `${CREATE_STAGING}; ${PREPARE_MERGE}`;

/** How the writer groups and bounds writes (the INGEST_GROUP_* and INGEST_WRITE_* settings). */
export interface EventWriterOptions {
  /** INGEST_STATEMENT_TIMEOUT: the longest each statement may run when no member's deadline allows less. */
  readonly statementTimeoutMs: number;
  /** INGEST_WRITE_CONCURRENCY: groups written at once, each on its own connection. */
  readonly concurrency: number;
  /** INGEST_GROUP_LINGER: while a group is being written, how long a new write may wait for others to join it (0: never). */
  readonly lingerMs: number;
  /** INGEST_GROUP_MAX_EVENTS: a group takes no more calls once it holds this many events (a single call may hold more). */
  readonly groupMaxEvents: number;
  /** INGEST_GROUP_MAX_BYTES: likewise, by the bytes of its COPY rows. */
  readonly groupMaxBytes: number;
  /** INGEST_WRITE_QUEUE_MAX_BYTES: writes waiting for a group hold at most this many bytes; one more is UNAVAILABLE. */
  readonly queueMaxBytes: number;
  /** DB_POOL_CONNECTION_TIMEOUT: the longest a write waits for its group to start; then it is UNAVAILABLE. */
  readonly maxWaitMs: number;
  /** DATABASE_TRANSACTION_POOLING: create the staging table in each transaction (CREATE_STAGING_PER_TRANSACTION). */
  readonly stagingPerTransaction?: boolean;
  /** Partitions created on demand for a group whose events have none (issue 16); undefined: such a group fails as on any other error. */
  readonly partitions?: PartitionsOnDemandOptions;
  readonly now?: () => number;
}

/** One call's batch, from the moment it is handed over until its promise settles. */
interface PendingWrite {
  readonly tenantId: string;
  readonly events: readonly ValidEvent[];
  readonly bytes: number;
  readonly deadline: number | undefined;
  readonly signal: AbortSignal;
  readonly enqueuedAt: number;
  /** Written in a group of its own (a retry after its group failed). */
  readonly alone: boolean;
  /** Already retried once after its group lacked a partition and the partitions were created. */
  readonly partitionRetried: boolean;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
  /** The group writing it, once dispatched. */
  group: Group | undefined;
  waitTimer: NodeJS.Timeout | undefined;
  onAbort: () => void;
}

interface Group {
  readonly members: readonly PendingWrite[];
  readonly controller: AbortController;
}

/**
 * A rough size of an event's COPY row, for the group and queue bounds
 * (payload and id dominate; the rest is about 80 characters).
 */
function rowBytes(event: ValidEvent): number {
  return event.payloadJson.length + event.eventId.length + event.serviceName.length + 80;
}

/**
 * Writes batches of events with group commit: the batches of calls that
 * arrive while others are being written share one transaction (COPY, in
 * large chunks, into a TEMP staging table with a member column, then one
 * INSERT ... SELECT ... ON CONFLICT DO NOTHING into events, then COMMIT),
 * whatever their tenants. A lone call on an idle writer is written at once;
 * while a group is being written, a new call waits up to the linger for
 * others to join it, and while all `concurrency` connections are busy the
 * calls that arrive form the next group.
 *
 * Each call's result is exactly its own (see MERGE). A call that is stopped
 * (cancelled, past its deadline) is answered at once with its signal's
 * reason and its group goes on: its batch may still be committed,
 * unacknowledged, which a retry then counts as duplicates. A group whose
 * members have all stopped is rolled back (its connection is dropped; when
 * every member has a deadline, deadlineGuard also stops COMMIT once the
 * latest has passed). A group's transaction (BEGIN, the
 * COPY with its data, the merge, COMMIT) goes to PostgreSQL as one script in
 * one round trip (one-round-trip-copy.ts). When PostgreSQL answers it with an
 * error (a database error, a statement timeout), nothing of the group was
 * stored, and each member that is still waiting is retried in a group of its
 * own, so that no call fails for another's sake; when the connection is
 * lost once the script was sent, the outcome is unknown, and every member
 * gets UNAVAILABLE (a retry is exact).
 */
export class EventWriter implements EventSink {
  private readonly queue: PendingWrite[] = [];
  private queuedBytes = 0;
  private writing = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Connections whose session already has the staging table and the prepared merge (WRITER_SESSION_SETUP). */
  private readonly prepared = new WeakSet<pg.PoolClient>();
  private readonly now: () => number;
  private readonly partitions: PartitionsOnDemand | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: EventWriterOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.partitions = options.partitions === undefined ? undefined : new PartitionsOnDemand(pool, options.partitions);
  }

  async write(tenantId: string, events: readonly ValidEvent[], options: WriteOptions): Promise<WriteResult> {
    if (events.length === 0) return { inserted: 0, stored: [] };
    options.signal.throwIfAborted();
    if (options.deadline !== undefined && options.deadline <= this.now()) throw pastDeadline();
    let bytes = 0;
    for (const event of events) bytes += rowBytes(event);
    if (this.queue.length > 0 && this.queuedBytes + bytes > this.options.queueMaxBytes) {
      throw new VaultError('UNAVAILABLE', `the server is overloaded: writes waiting for the database already hold ${this.queuedBytes} bytes (INGEST_WRITE_QUEUE_MAX_BYTES is ${this.options.queueMaxBytes}); retry the call`, {
        retryAfterMs: DATABASE_RETRY_AFTER_MS,
      });
    }
    return new Promise<WriteResult>((resolve, reject) => {
      this.enqueue({ tenantId, events, bytes, deadline: options.deadline, signal: options.signal, alone: false, partitionRetried: false, resolve, reject });
    });
  }

  private enqueue(write: Pick<PendingWrite, 'tenantId' | 'events' | 'bytes' | 'deadline' | 'signal' | 'alone' | 'partitionRetried' | 'resolve' | 'reject'>, first = false): void {
    const pending: PendingWrite = { ...write, enqueuedAt: this.now(), settled: false, group: undefined, waitTimer: undefined, onAbort: () => this.stop(pending) };
    pending.waitTimer = setTimeout(() => this.expire(pending), this.options.maxWaitMs);
    pending.signal.addEventListener('abort', pending.onAbort, { once: true });
    if (first) this.queue.unshift(pending);
    else this.queue.push(pending);
    this.queuedBytes += pending.bytes;
    this.schedule();
  }

  /** Starts groups while connections are free and a group is due. */
  private schedule(): void {
    while (this.queue.length > 0 && this.writing < this.options.concurrency) {
      const waitMs = this.lingerLeft();
      if (waitMs > 0) {
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = undefined;
          this.schedule();
        }, waitMs);
        return;
      }
      this.dispatch(this.takeGroup());
    }
  }

  /** How much longer the queue's head should wait for company: 0 on an idle writer, for a full group, or once the linger passed. */
  private lingerLeft(): number {
    if (this.writing === 0 || this.options.lingerMs === 0) return 0;
    let events = 0;
    let bytes = 0;
    for (const pending of this.queue) {
      events += pending.events.length;
      bytes += pending.bytes;
      if (events >= this.options.groupMaxEvents || bytes >= this.options.groupMaxBytes) return 0;
    }
    return Math.max(0, this.queue[0]!.enqueuedAt + this.options.lingerMs - this.now());
  }

  /** Takes the next group off the queue: at least one write, then whole writes while the bounds allow. */
  private takeGroup(): PendingWrite[] {
    const members = [this.queue.shift()!];
    let events = members[0]!.events.length;
    let bytes = members[0]!.bytes;
    while (!members[0]!.alone && this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.alone || events + next.events.length > this.options.groupMaxEvents || bytes + next.bytes > this.options.groupMaxBytes) break;
      members.push(this.queue.shift()!);
      events += next.events.length;
      bytes += next.bytes;
    }
    for (const member of members) {
      this.queuedBytes -= member.bytes;
      clearTimeout(member.waitTimer);
    }
    return members;
  }

  private dispatch(members: PendingWrite[]): void {
    const group: Group = { members, controller: new AbortController() };
    for (const member of members) member.group = group;
    this.writing++;
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    void this.writeGroup(group).finally(() => {
      this.writing--;
      this.schedule();
    });
  }

  private async writeGroup(group: Group): Promise<void> {
    const events = group.members.reduce((sum, member) => sum + member.events.length, 0);
    let scriptSent = false;
    let serverRejected = false;
    try {
      const results = await withSpan('ingest.flush', { 'vault.ingest.batch_size': events, 'vault.ingest.group_members': group.members.length }, async (span) => {
        const perMember = await withConnection(
          this.pool,
          group.controller.signal,
          async (client) => {
            const perTransaction = this.options.stagingPerTransaction === true; // scale (issue 17)
            if (!perTransaction && !this.prepared.has(client)) {
              await client.query(WRITER_SESSION_SETUP);
              this.prepared.add(client);
            }
            const deadlineMs = this.groupDeadline(group);
            const script = {
              before: [
                'BEGIN',
                `SET LOCAL statement_timeout = ${deadlineMs === undefined ? this.options.statementTimeoutMs : Math.min(this.options.statementTimeoutMs, deadlineMs)}`,
                `SET LOCAL client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}`,
                ...(perTransaction ? [CREATE_STAGING_PER_TRANSACTION] : []),
                LIVE_TAIL_WRITER_LOCK,
              ],
              copy: COPY_INTO_STAGING,
              after: [(perTransaction ? mergeWithTenants : executeMerge)(group.members.map((member) => member.tenantId)), ...(deadlineMs === undefined ? [] : [deadlineGuard(deadlineMs)]), 'COMMIT'],
              chunks: encodeCopyChunks(group.members.map((member) => member.events)),
            };
            scriptSent = true;
            let rows: ScriptRows;
            try {
              rows = await runOneRoundTripCopy(client, script);
            } catch (error) {
              // An ERROR stopped the script where it happened; FATAL (the
              // server ending the session) may come after a COMMIT that ran.
              serverRejected = error instanceof pg.DatabaseError && error.severity === 'ERROR';
              throw error;
            }
            return rows.map((row) => ({ member: Number(row.member), event_type: row.event_type!, service_name: row.service_name!, stored: Number(row.stored) }));
          },
          (client) => client.query('ROLLBACK'),
        );
        const inserted = perMember.reduce((sum, row) => sum + row.stored, 0);
        span.setAttributes({ 'vault.ingest.accepted': inserted, 'vault.ingest.duplicates': events - inserted });
        return perMember;
      });
      group.members.forEach((member, index) => {
        const stored: StoredGroup[] = results.filter((row) => row.member === index + 1).map((row) => ({ eventType: row.event_type, serviceName: row.service_name, count: row.stored }));
        this.settle(member, () => member.resolve({ inserted: stored.reduce((sum, row) => sum + row.count, 0), stored }));
      });
    } catch (error) {
      const waiting = group.members.filter((member) => !member.settled);
      // The server's own error stopped the script before its COMMIT ran (or
      // failed the COMMIT): nothing of the group is stored. Anything else
      // once the script was sent (the connection lost) leaves it unknown.
      const rolledBack = !scriptSent || serverRejected;
      const split = rolledBack && waiting.length > 1;
      let left = waiting;
      if (rolledBack && this.partitions !== undefined && isMissingPartition(error)) {
        // No partition took some row: the members not yet retried for that wait for the partitions their events
        // need (one creation in flight, see PartitionsOnDemand), then go again together; those already retried
        // once go on below (alone, or failed).
        const fresh = waiting.filter((member) => !member.partitionRetried);
        if (fresh.length > 0) this.retryOnceCreated(this.partitions, fresh);
        left = waiting.filter((member) => member.partitionRetried);
      }
      if (split) {
        // Retried one by one, ahead of the queue, each within its own deadline.
        for (const member of left.reverse()) this.requeue(member, { alone: true });
        return;
      }
      const failure = !rolledBack && !(error instanceof VaultError && error.code === 'DEADLINE_EXCEEDED') ? commitUnknown(error) : isMissingPartition(error) ? noPartition(error) : error;
      for (const member of left) this.settle(member, () => member.reject(failure));
    }
  }

  /** Puts a member of a failed group back at the head of the queue (its call goes on waiting, within its own deadline). */
  private requeue(member: PendingWrite, change: Partial<Pick<PendingWrite, 'alone' | 'partitionRetried'>>): void {
    this.detach(member);
    member.settled = true;
    this.enqueue({ ...member, ...change }, true);
  }

  /**
   * Members of a group that lacked a partition: once the partitions of their
   * events exist they are written again (once; the group's connection slot is
   * free meanwhile). Their calls can still stop while they wait. When
   * creating fails, they get UNAVAILABLE with a retry delay.
   */
  private retryOnceCreated(partitions: PartitionsOnDemand, members: readonly PendingWrite[]): void {
    const instantsMs = new Set<number>();
    for (const member of members) for (const event of member.events) instantsMs.add(Math.floor(Number(event.timestampUs) / 1000));
    partitions.ensure(instantsMs).then(
      () => {
        for (const member of [...members].reverse()) if (!member.settled) this.requeue(member, { partitionRetried: true });
      },
      (error: unknown) => {
        const failure = new VaultError('UNAVAILABLE', 'the events table has no partition for some of these timestamps yet and creating it failed; retry the call', {
          cause: error,
          retryAfterMs: DATABASE_RETRY_AFTER_MS,
        });
        for (const member of members) this.settle(member, () => member.reject(failure));
      },
    );
  }

  /** A member's call stopped: answered at once; when it was the last one waiting in its group, the group is rolled back. */
  private stop(pending: PendingWrite): void {
    if (pending.settled) return;
    const group = pending.group;
    if (group === undefined) {
      this.removeFromQueue(pending);
      this.settle(pending, () => pending.reject(pending.signal.reason));
      return;
    }
    this.settle(pending, () => pending.reject(pending.signal.reason));
    if (group.members.every((member) => member.settled)) group.controller.abort(pending.signal.reason);
  }

  /** A write waited past DB_POOL_CONNECTION_TIMEOUT without its group starting. */
  private expire(pending: PendingWrite): void {
    if (pending.settled || pending.group !== undefined) return;
    this.removeFromQueue(pending);
    const waitedMs = this.now() - pending.enqueuedAt;
    this.settle(pending, () =>
      pending.reject(
        new VaultError('UNAVAILABLE', `the server is overloaded: the write waited ${waitedMs} ms for the database (DB_POOL_CONNECTION_TIMEOUT is ${this.options.maxWaitMs} ms); retry the call`, {
          retryAfterMs: DATABASE_RETRY_AFTER_MS,
        }),
      ),
    );
  }

  private removeFromQueue(pending: PendingWrite): void {
    const index = this.queue.indexOf(pending);
    if (index < 0) return;
    this.queue.splice(index, 1);
    this.queuedBytes -= pending.bytes;
  }

  private settle(pending: PendingWrite, answer: () => void): void {
    if (pending.settled) return;
    this.detach(pending);
    pending.settled = true;
    answer();
  }

  private detach(pending: PendingWrite): void {
    clearTimeout(pending.waitTimer);
    pending.signal.removeEventListener('abort', pending.onAbort);
  }

  /**
   * The ms left to the latest deadline among the group's waiting members, or
   * undefined when one of them has none (a member with a nearer deadline is
   * answered when its call stops; the others keep their time).
   */
  private groupDeadline(group: Group): number | undefined {
    let latest = 0;
    for (const member of group.members) {
      if (member.settled) continue;
      if (member.deadline === undefined) return undefined;
      latest = Math.max(latest, member.deadline);
    }
    const left = Math.floor(latest - this.now());
    if (left <= 0) throw pastDeadline();
    return left;
  }
}

/**
 * The statement before COMMIT in a group whose every member has a deadline:
 * once the latest one has passed, PostgreSQL itself refuses to commit
 * (query_canceled, mapped to DEADLINE_EXCEEDED), so a call answered
 * DEADLINE_EXCEEDED never has its batch committed behind its back, even when
 * the merge was held up (a lock) and resumed before the database noticed the
 * dropped connection. The time is measured on the database's clock from the
 * transaction's start (now(): the arrival of the script's first message,
 * its BEGIN, sent right after leftMs was taken; not statement_timestamp(),
 * which is the later arrival of the merge's message, after the COPY), so
 * clock skew between hosts does not matter; the margin covers the script's
 * time on the wire and a late timer in the server.
 */
export function deadlineGuard(leftMs: number): string {
  const limitMs = Math.max(0, Math.floor(leftMs) - DEADLINE_GUARD_MARGIN_MS);
  return `DO $$BEGIN IF clock_timestamp() - now() > interval '${limitMs} milliseconds' THEN RAISE EXCEPTION 'every call of the group passed its deadline before COMMIT' USING ERRCODE = 'query_canceled'; END IF; END$$`;
}

/** How much earlier than the server's own deadline timer the database's guard refuses to commit. */
export const DEADLINE_GUARD_MARGIN_MS = 5;

/** A group still without a partition after the creation (or with creation off): nothing stored, worth a retry. */
function noPartition(cause: unknown): VaultError {
  return new VaultError('UNAVAILABLE', 'the events table has no partition for some of these timestamps yet; retry the call', { cause, retryAfterMs: DATABASE_RETRY_AFTER_MS });
}

/** COMMIT was sent but its answer never came: the group may or may not be stored. */
function commitUnknown(cause: unknown): VaultError {
  return new VaultError('UNAVAILABLE', 'the database connection failed while committing; the batch may or may not be stored, and a retry is exact', {
    cause,
    retryAfterMs: DATABASE_RETRY_AFTER_MS,
  });
}
