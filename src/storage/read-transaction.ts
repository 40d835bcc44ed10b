import type pg from 'pg';
import type { QueryBudget } from '../domain/query/event-reader';
import { mapPgError } from './map-pg-error';

export type ReadIsolation = 'read committed' | 'repeatable read';

/**
 * How often PostgreSQL checks, while a query runs, that our connection is
 * still there. When a call is cancelled we drop its connection; with this,
 * the server abandons the query within a second instead of running it to the
 * end of its statement timeout.
 */
const CLIENT_CONNECTION_CHECK_INTERVAL_MS = 1000;

/**
 * Runs `work` in a read-only transaction on a pooled connection, under the
 * budget's statement timeout (SET LOCAL, so that it ends with the
 * transaction and never leaks into the pool).
 *
 * When the budget's signal aborts (the client went away), the connection is
 * dropped at once, whatever runs on it, and the pool slot is free again; the
 * call then fails with the signal's reason. Database errors are mapped by
 * mapPgError (a statement timeout becomes DEADLINE_EXCEEDED).
 */
export async function withReadTransaction<T>(pool: pg.Pool, budget: QueryBudget, isolation: ReadIsolation, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  if (budget.signal.aborted) throw budget.signal.reason;
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapPgError(error);
  }
  let released = false;
  const release = (destroyWith?: Error): void => {
    if (released) return;
    released = true;
    client.release(destroyWith);
  };
  const onAbort = (): void => release(new Error('the call was cancelled'));
  budget.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (budget.signal.aborted) throw budget.signal.reason;
    // One round trip: both values are whole numbers of ours, never client text.
    const timeoutMs = Math.max(1, Math.ceil(budget.timeoutMs));
    await client.query(
      `${isolation === 'repeatable read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN READ ONLY'}; SET LOCAL statement_timeout = ${timeoutMs}; SET LOCAL client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}`,
    );
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (budget.signal.aborted) throw budget.signal.reason;
    if (!released) {
      // A failed statement leaves the transaction aborted: roll back so the
      // connection goes back clean; one that cannot even do that is dropped.
      await client.query('ROLLBACK').catch((rollbackError: unknown) => release(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))));
    }
    throw mapPgError(error);
  } finally {
    budget.signal.removeEventListener('abort', onAbort);
    release();
  }
}
