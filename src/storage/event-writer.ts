import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { EventSink, StoredGroup, ValidEvent, WriteOptions, WriteResult } from '../domain/ingest/ingest-event';
import { VaultError } from '../domain/vault-error';
import { withSpan } from '../observability/with-span';
import { COPY_COLUMNS, encodeCopyChunks } from './encode-copy-text';
import { mapPgError } from './map-pg-error';

/**
 * The staging table, one per connection (TEMP), emptied by every commit.
 * payload is jsonb already so that COPY parses each payload once. (This and
 * the two statements below are exported for the benchmark's PostgreSQL
 * ceiling, which must run exactly the server's statements.)
 */
export const CREATE_STAGING = `CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
  member int NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  ts timestamptz NOT NULL,
  event_type text COLLATE "C" NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  payload jsonb NOT NULL
) ON COMMIT DELETE ROWS`;

export const COPY_INTO_STAGING = `COPY ingest_staging (${COPY_COLUMNS.join(', ')}) FROM STDIN`;

/**
 * The merge. The first write of a (tenant, event_id) wins; rows already
 * there are skipped. Rows go in event_id order so that concurrent calls
 * carrying the same ids (a client retrying while its first attempt still
 * runs) take the unique index's locks in the same order and cannot deadlock.
 */
export const MERGE = `WITH inserted AS (
  INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload)
  SELECT $1::uuid, event_id, ts, event_type, service_name, payload FROM ingest_staging ORDER BY event_id
  ON CONFLICT (tenant_id, event_id) DO NOTHING
  RETURNING event_type, service_name
)
SELECT event_type, service_name, count(*)::int AS stored FROM inserted GROUP BY event_type, service_name`;

/** MERGE's parameters for a group whose member i (1-based, the staging table's member column) belongs to tenantIds[i - 1]. */
export function mergeArguments(tenantIds: readonly string[]): unknown[] {
  return [tenantIds[0]];
}

export interface EventWriterOptions {
  /** INGEST_STATEMENT_TIMEOUT: the longest each statement may run when the call's deadline allows more. */
  readonly statementTimeoutMs: number;
  /** The longest a cancellation may wait for its own connection (DB_POOL_CONNECTION_TIMEOUT). */
  readonly cancelTimeoutMs: number;
  readonly now?: () => number;
}

/**
 * Writes batches of events: COPY (text format, in large chunks) into a TEMP
 * staging table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING into
 * events, in one transaction per batch; the merge also counts what it stored
 * by event type and service (a handful of rows), for the metrics. Every statement is bounded by the
 * call's deadline (a passed deadline is DEADLINE_EXCEEDED). When the call is
 * cancelled mid-write, the running statement is cancelled in the database
 * (pg_cancel_backend) and the batch rolled back, unless COMMIT was already
 * sent. A connection that failed or was cancelled is discarded, never
 * returned to the pool.
 */
export class EventWriter implements EventSink {
  /** The backend pid of each connection whose session already has the staging table. */
  private readonly prepared = new WeakMap<pg.PoolClient, number>();
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: EventWriterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  write(tenantId: string, events: readonly ValidEvent[], options: WriteOptions): Promise<WriteResult> {
    return withSpan('ingest.flush', { 'vault.ingest.batch_size': events.length }, async (span) => {
      const result = await this.writeBatch(tenantId, events, options);
      span.setAttributes({ 'vault.ingest.accepted': result.inserted, 'vault.ingest.duplicates': events.length - result.inserted });
      return result;
    });
  }

  private async writeBatch(tenantId: string, events: readonly ValidEvent[], options: WriteOptions): Promise<WriteResult> {
    if (events.length === 0) return { inserted: 0, stored: [] };
    const chunks = encodeCopyChunks([events]);
    options.signal.throwIfAborted();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw mapPgError(error);
    }
    // A checked-out client that loses its connection between queries emits
    // 'error'; without a listener that would crash the process.
    let broken: unknown;
    const onError = (error: unknown): void => {
      broken ??= error;
    };
    client.on('error', onError);
    let inTransaction = false;
    let cancelling: Promise<void> | undefined;
    const onAbort = (): void => {
      cancelling ??= this.cancelBackend(backendPid);
    };
    let backendPid = this.prepared.get(client);
    try {
      backendPid ??= await this.prepare(client);
      const timeoutMs = this.statementTimeout(options.deadline);
      await client.query(`BEGIN; SET LOCAL statement_timeout = ${timeoutMs}`);
      inTransaction = true;
      options.signal.addEventListener('abort', onAbort, { once: true });
      await pipeline(Readable.from(chunks), client.query(copyFrom(COPY_INTO_STAGING)));
      const merged = await client.query<{ event_type: string; service_name: string; stored: number }>(MERGE, mergeArguments([tenantId]));
      options.signal.removeEventListener('abort', onAbort);
      if (options.signal.aborted) {
        await client.query('ROLLBACK');
        inTransaction = false;
        throw options.signal.reason;
      }
      await client.query('COMMIT');
      inTransaction = false;
      const stored: StoredGroup[] = merged.rows.map((row) => ({ eventType: row.event_type, serviceName: row.service_name, count: row.stored }));
      return { inserted: stored.reduce((sum, group) => sum + group.count, 0), stored };
    } catch (error) {
      // Whatever failed inside the transaction (or failed in the database)
      // leaves the session in an unknown state: the connection is discarded.
      if (inTransaction || !(error instanceof VaultError)) broken ??= error;
      throw options.signal.aborted && cancelling ? options.signal.reason : mapPgError(error);
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      client.off('error', onError);
      if (cancelling) {
        // A cancel may land late; a connection that was sent one is never reused.
        await cancelling;
        broken ??= new Error('the statement was cancelled');
      }
      client.release(broken === undefined ? undefined : toError(broken));
    }
  }

  /** Creates the connection's staging table (outside any transaction, so that it stays) and learns its backend pid. */
  private async prepare(client: pg.PoolClient): Promise<number> {
    const results = (await client.query(`${CREATE_STAGING}; SELECT pg_backend_pid() AS pid`)) as unknown as pg.QueryResult<{ pid: number }>[];
    const pid = results[1]!.rows[0]!.pid;
    this.prepared.set(client, pid);
    return pid;
  }

  /**
   * Cancels the statement running on a backend, from a connection of its own
   * (the pool may have none to spare). Best effort: when it fails, the
   * statement timeout still bounds the wait.
   */
  private async cancelBackend(pid: number | undefined): Promise<void> {
    if (pid === undefined) return;
    const canceller = new pg.Client({ ...this.pool.options, connectionTimeoutMillis: this.options.cancelTimeoutMs, application_name: 'telemetry-vault-cancel' });
    canceller.on('error', () => undefined);
    try {
      await canceller.connect();
      await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch {
      // Best effort (see above).
    } finally {
      await canceller.end().catch(() => undefined);
    }
  }

  /** SET LOCAL statement_timeout in ms: the configured bound, cut to what is left of the deadline. */
  private statementTimeout(deadline: number | undefined): number {
    if (deadline === undefined) return this.options.statementTimeoutMs;
    const left = deadline - this.now();
    if (left <= 0) throw new VaultError('DEADLINE_EXCEEDED', 'the call ran past its deadline');
    return Math.max(1, Math.min(this.options.statementTimeoutMs, Math.floor(left)));
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
