import type pg from 'pg';
import type { CommittedKey, LiveTailRepository, SnapshotSession, StoredSnapshot } from '../domain/live-tail/live-tail-store';
import type { EventSelection, PageWindow, StoredEvent } from '../domain/query/event-reader';
import type { StatementBudget } from '../domain/statement-budget';
import { CLIENT_CONNECTION_CHECK_INTERVAL_MS, connectionFor, withTransaction, type ConnectionSource } from './database-session';
import { toPage, toStoredEvent, type EventRow } from './event-query-repository';
import { keysQuery, pageQuery } from './event-query-sql';
import { LIVE_TAIL_LOCK_KEY } from './live-tail-notify';
import { mapPgError } from './map-pg-error';

/**
 * The follower registry (live_tail_followers) and the reads of follow mode,
 * all on the primary: the snapshot a follow reads its stored part in must be
 * taken after its registration committed, and the events of a commit notice
 * must be readable as soon as it arrives, which a replica's lag would break.
 */
export class PgLiveTailRepository implements LiveTailRepository {
  /**
   * The registry is written through `pool`; events are read through `reads`
   * (the primary's share for reads, ReadShare). `statementTimeoutMs` bounds
   * the registry's statements (QUERY_STATEMENT_TIMEOUT); `maxPayloadBytes` as
   * for EventQueryRepository.
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly reads: ConnectionSource,
    private readonly statementTimeoutMs: number,
    private readonly maxPayloadBytes: number,
  ) {}

  async register(tenantId: string, instanceId: string, ttlMs: number): Promise<void> {
    await withTransaction(this.pool, this.registryBudget(), 'read write', async (client) => {
      // Exclusive: waits for every writer transaction holding the lock shared (see live-tail-notify.ts).
      await client.query(`SELECT pg_advisory_xact_lock(${LIVE_TAIL_LOCK_KEY})`);
      await client.query(
        `INSERT INTO live_tail_followers (tenant_id, instance_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (tenant_id, instance_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
        [tenantId, instanceId, ttlMs],
      );
    });
  }

  async unregister(tenantId: string, instanceId: string): Promise<void> {
    await withTransaction(this.pool, this.registryBudget(), 'read write', (client) => client.query('DELETE FROM live_tail_followers WHERE tenant_id = $1 AND instance_id = $2', [tenantId, instanceId]));
  }

  async refresh(instanceId: string, ttlMs: number): Promise<Set<string>> {
    return withTransaction(this.pool, this.registryBudget(), 'read write', async (client) => {
      const kept = await client.query<{ tenant_id: string }>(
        `UPDATE live_tail_followers SET expires_at = now() + $2 * interval '1 millisecond' WHERE instance_id = $1 RETURNING tenant_id`,
        [instanceId, ttlMs],
      );
      await client.query('DELETE FROM live_tail_followers WHERE expires_at < now()');
      return new Set(kept.rows.map((row) => row.tenant_id));
    });
  }

  async openSnapshot(budget: StatementBudget): Promise<SnapshotSession> {
    // A follow stopped while it waits for the reads' share leaves the line, as withConnection's reads do.
    const client = await connectionFor(this.reads, budget.signal);
    let closed = false;
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken ??= error;
    };
    client.on('error', onError);
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      budget.signal.removeEventListener('abort', onAbort);
      if (broken === undefined) await client.query('ROLLBACK').catch((error: unknown) => (broken = error instanceof Error ? error : new Error(String(error))));
      client.off('error', onError);
      client.release(broken);
    };
    const onAbort = (): void => {
      broken ??= new Error('the call was stopped');
      void close();
    };
    budget.signal.addEventListener('abort', onAbort, { once: true });
    try {
      // The first statement of the transaction fixes its snapshot; pg_current_snapshot reports it.
      const opened = await client.query<{ snapshot: string }>(
        `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.ceil(budget.timeoutMs))}; SET LOCAL client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}; SELECT pg_current_snapshot()::text AS snapshot`,
      );
      const results = opened as unknown as pg.QueryResult<{ snapshot: string }>[];
      const snapshot = parseSnapshot(results.at(-1)!.rows[0]!.snapshot);
      return {
        snapshot,
        readPage: async (selection: EventSelection, window: PageWindow) => {
          budget.signal.throwIfAborted();
          try {
            const rows = await client.query<EventRow>(pageQuery(selection, window, this.maxPayloadBytes));
            return toPage(rows.rows, window.payloadAsJson);
          } catch (error) {
            if (budget.signal.aborted) throw budget.signal.reason;
            throw mapPgError(error);
          }
        },
        close,
      };
    } catch (error) {
      await close();
      if (budget.signal.aborted) throw budget.signal.reason;
      throw mapPgError(error);
    }
  }

  async readKeys(selection: EventSelection, keys: readonly CommittedKey[], payloadAsJson: boolean, budget: StatementBudget): Promise<StoredEvent[]> {
    if (keys.length === 0) return [];
    return withTransaction(this.reads, budget, 'read only', async (client) => {
      const rows = await client.query<EventRow>(keysQuery(selection, keys, this.maxPayloadBytes));
      return rows.rows.map((row) => toStoredEvent(row, payloadAsJson));
    });
  }

  private registryBudget(): StatementBudget {
    return { timeoutMs: this.statementTimeoutMs, signal: new AbortController().signal };
  }
}

/**
 * A pg_snapshot's text form, "xmin:xmax:xip,...": a transaction is visible
 * in it when it is below xmin, or below xmax and not in progress (xip).
 */
export function parseSnapshot(text: string): StoredSnapshot {
  const [xmin, xmax, xip] = text.split(':');
  const min = BigInt(xmin!);
  const max = BigInt(xmax!);
  const inProgress = new Set((xip ?? '').split(',').filter((xid) => xid !== '').map((xid) => BigInt(xid)));
  return { includes: (xid) => xid < min || (xid < max && !inProgress.has(xid)) };
}
