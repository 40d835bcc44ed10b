import type pg from 'pg';
import { withPooledClient } from './database-session';

/** One partition of events: [lowerMs, upperMs), lowerMs undefined for events_before (from MINVALUE). */
export interface EventPartition {
  readonly name: string;
  readonly lowerMs: number | undefined;
  readonly upperMs: number;
  /** A DETACH ... CONCURRENTLY that was interrupted: it must be finalized. */
  readonly detachPending: boolean;
}

/**
 * The advisory lock keys of the data lifecycle (pg_advisory_lock's bigint):
 * one for creating partitions, one for the retention work, so that several
 * instances never do either twice at once.
 */
export const PARTITION_LOCK_KEY = 0x7456_0016_0001n;
export const RETENTION_LOCK_KEY = 0x7456_0016_0002n;

/**
 * events' partitions from the catalog, lowest first. The bounds are read back
 * from pg_get_expr's text, which prints them with their UTC offset, so that
 * the cast does not depend on the session's time zone.
 */
export async function listEventPartitions(client: pg.ClientBase | pg.Pool): Promise<EventPartition[]> {
  const result = await client.query<{ name: string; lower_ms: number | null; upper_ms: number; detach_pending: boolean }>(
    `SELECT c.relname AS name,
            (extract(epoch FROM (regexp_match(b.bound, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8 AS lower_ms,
            (extract(epoch FROM (regexp_match(b.bound, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8 AS upper_ms,
            i.inhdetachpending AS detach_pending
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       CROSS JOIN LATERAL pg_get_expr(c.relpartbound, c.oid) AS b(bound)
      WHERE i.inhparent = 'events'::regclass
      ORDER BY lower_ms NULLS FIRST`,
  );
  return result.rows.map((row) => ({ name: row.name, lowerMs: row.lower_ms ?? undefined, upperMs: row.upper_ms, detachPending: row.detach_pending }));
}

/** The partition name of a range starting at `lowerMs`: events_p20261205 on day bounds, events_p20261205_0600 otherwise. */
export function partitionName(lowerMs: number): string {
  const iso = new Date(lowerMs).toISOString();
  const day = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 16).replace(':', '');
  return time === '0000' ? `events_p${day}` : `events_p${day}_${time}`;
}

/** The ranges to create so that partitions reach `horizonMs`: contiguous from the highest upper bound, cut at multiples of `intervalMs` since the epoch. */
export function missingRanges(partitions: readonly EventPartition[], horizonMs: number, intervalMs: number): { lowerMs: number; upperMs: number }[] {
  const top = partitions.reduce((highest, partition) => Math.max(highest, partition.upperMs), Number.NEGATIVE_INFINITY);
  if (!Number.isFinite(top)) throw new Error('events has no partition: migration 0004 creates events_before');
  const ranges: { lowerMs: number; upperMs: number }[] = [];
  for (let lowerMs = top; lowerMs < horizonMs; ) {
    const upperMs = (Math.floor(lowerMs / intervalMs) + 1) * intervalMs;
    ranges.push({ lowerMs, upperMs });
    lowerMs = upperMs;
  }
  return ranges;
}

/**
 * The ranges to create so that each instant of `instantsMs` below the highest
 * bound has a partition: one per instant that falls in a gap (a partition
 * the retention work dropped, whose tenant's retention was lengthened since),
 * cut at multiples of `intervalMs` and clipped to its neighbours. Instants at
 * or above the highest bound are missingRanges' work.
 */
export function gapRanges(partitions: readonly EventPartition[], instantsMs: Iterable<number>, intervalMs: number): { lowerMs: number; upperMs: number }[] {
  const ranges: { lowerMs: number; upperMs: number }[] = [];
  const covered = (ms: number): boolean =>
    partitions.some((partition) => (partition.lowerMs === undefined || partition.lowerMs <= ms) && ms < partition.upperMs) || ranges.some((range) => range.lowerMs <= ms && ms < range.upperMs);
  const top = partitions.reduce((highest, partition) => Math.max(highest, partition.upperMs), Number.NEGATIVE_INFINITY);
  for (const ms of instantsMs) {
    if (ms >= top || covered(ms)) continue;
    let lowerMs = Math.floor(ms / intervalMs) * intervalMs;
    let upperMs = lowerMs + intervalMs;
    for (const partition of partitions) {
      if (partition.upperMs <= ms) lowerMs = Math.max(lowerMs, partition.upperMs);
      else if (partition.lowerMs !== undefined && partition.lowerMs > ms) upperMs = Math.min(upperMs, partition.lowerMs);
    }
    ranges.push({ lowerMs, upperMs });
  }
  return ranges;
}

export interface EnsurePartitionsOptions {
  /** EVENTS_PARTITION_INTERVAL in milliseconds. */
  readonly intervalMs: number;
  /** Partitions must cover up to this instant (now + INGEST_MAX_FUTURE_SKEW + EVENTS_PARTITIONS_AHEAD intervals). */
  readonly horizonMs: number;
  /** How long to wait for the lock (another instance creating them) or a table lock: then this round gives up, the next one retries. */
  readonly lockTimeoutMs: number;
  /** Instants that must have a partition even below the highest bound (the writer's on-demand creation: gapRanges). */
  readonly coveringMs?: Iterable<number>;
}

/**
 * Creates the partitions that `horizonMs` still lacks, one transaction each,
 * under PARTITION_LOCK_KEY (an instance that finds it taken waits up to the
 * lock timeout, then sees the other's work). Each is created as a standalone
 * table and then attached: CREATE TABLE ... PARTITION OF would take an ACCESS
 * EXCLUSIVE lock on events, while ATTACH PARTITION takes SHARE UPDATE
 * EXCLUSIVE, which inserts and reads do not wait for (events has no DEFAULT
 * partition, whose scan would need more). Returns the names created.
 */
export function ensureEventPartitions(pool: pg.Pool, options: EnsurePartitionsOptions): Promise<string[]> {
  return withPooledClient(pool, async (client) => {
    const created: string[] = [];
    for (;;) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs))}`);
        await client.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK_KEY.toString()]);
        const partitions = await listEventPartitions(client);
        const next = missingRanges(partitions, options.horizonMs, options.intervalMs)[0] ?? gapRanges(partitions, options.coveringMs ?? [], options.intervalMs)[0];
        if (next === undefined) {
          await client.query('COMMIT');
          return created;
        }
        const name = partitionName(next.lowerMs);
        const lower = new Date(next.lowerMs).toISOString();
        const upper = new Date(next.upperMs).toISOString();
        // The partition's own UNIQUE (tenant_id, event_id) is the exactly-once rule (README, "Exactly-once"): events
        // can have no unique index without the partition key. The CHECK lets ATTACH skip validating the (empty)
        // table; it is redundant once attached.
        await client.query(
          `CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS, CONSTRAINT ${name}_tenant_id_event_id_key UNIQUE (tenant_id, event_id),` +
            ` CONSTRAINT ${name}_range CHECK ("timestamp" >= '${lower}' AND "timestamp" < '${upper}'))`,
        );
        await client.query(`ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${lower}') TO ('${upper}')`);
        await client.query(`ALTER TABLE ${name} DROP CONSTRAINT ${name}_range`);
        await client.query('COMMIT');
        created.push(name);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  });
}

export interface PartitionsOnDemandOptions {
  /** EVENTS_PARTITION_INTERVAL in milliseconds. */
  readonly intervalMs: number;
  /** How long a creation waits for the partition lock (another instance's round) or a table lock before it fails. */
  readonly lockTimeoutMs: number;
  /** Told the partitions each creation made (a log line and a metric); not called when it made none. */
  readonly onCreated?: (names: readonly string[]) => void;
}

/**
 * The writer's creation of partitions on demand (issue 16): a group whose
 * events have no partition (the lifecycle rounds fell behind: lock timeouts,
 * the database away, a clock jump) asks for the partitions its instants need,
 * then is retried. One creation at most is in flight per instance: the
 * requests that arrive meanwhile are merged into the next one, so that many
 * failed groups never stampede; between instances ensureEventPartitions'
 * advisory lock does the same.
 */
export class PartitionsOnDemand {
  private tail: Promise<unknown> = Promise.resolve();
  private next: { readonly instantsMs: Set<number>; done: Promise<string[]> } | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: PartitionsOnDemandOptions,
  ) {}

  /** Creates what `instantsMs` lack; resolves with the names created (by this request's round), rejects when creating failed. */
  ensure(instantsMs: Iterable<number>): Promise<string[]> {
    let next = this.next;
    if (next === undefined) {
      const round = { instantsMs: new Set<number>(), done: Promise.resolve<string[]>([]) };
      round.done = this.tail.then(() => {
        if (this.next === round) this.next = undefined;
        return this.create(round.instantsMs);
      });
      this.tail = round.done.catch(() => undefined);
      this.next = next = round;
    }
    for (const ms of instantsMs) next.instantsMs.add(ms);
    return next.done;
  }

  private async create(instantsMs: ReadonlySet<number>): Promise<string[]> {
    let highest = Number.NEGATIVE_INFINITY;
    for (const ms of instantsMs) highest = Math.max(highest, ms);
    const created = await ensureEventPartitions(this.pool, { intervalMs: this.options.intervalMs, horizonMs: highest + 1, lockTimeoutMs: this.options.lockTimeoutMs, coveringMs: instantsMs });
    if (created.length > 0) this.options.onCreated?.(created);
    return created;
  }
}

/** PostgreSQL's refusal of a row that no partition of events takes (SQLSTATE 23514, check_violation, with this message). */
export function isMissingPartition(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23514' && /no partition of relation "events" found for row/.test((error as Error).message);
}
