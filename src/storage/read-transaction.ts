import type pg from 'pg';
import type { StatementBudget } from '../domain/statement-budget';
import { mapPgError } from './map-pg-error';

export type ReadIsolation = 'read committed' | 'repeatable read';

/**
 * How often PostgreSQL checks, while a query runs, that our connection is
 * still there. When a call is cancelled we drop its connection; with this,
 * the server abandons the query within a second instead of running it to the
 * end of its statement timeout.
 */
const CLIENT_CONNECTION_CHECK_INTERVAL_MS = 1000;

/** Planner settings for one transaction (SET LOCAL), fixed by our code. */
export interface PlannerSettings {
  readonly enable_sort?: 'on' | 'off';
  readonly enable_incremental_sort?: 'on' | 'off';
  readonly jit?: 'on' | 'off';
}

/** The session-level statement_timeout each pooled connection already carries (set by withReadStatement). */
const sessionTimeouts = new WeakMap<pg.PoolClient, number>();

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
export function withReadTransaction<T>(
  pool: pg.Pool,
  budget: StatementBudget,
  isolation: ReadIsolation,
  work: (client: pg.PoolClient) => Promise<T>,
  planner: PlannerSettings = {},
): Promise<T> {
  const plannerSettings = Object.entries(planner).map(([name, value]) => `; SET LOCAL ${name} = ${value}`);
  return withCheckedOut(
    pool,
    budget,
    async (client) => {
      // One round trip: every value is ours (whole numbers, fixed words), never client text.
      await client.query(
        `${isolation === 'repeatable read' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN READ ONLY'}; SET LOCAL statement_timeout = ${wholeMs(budget.timeoutMs)}; SET LOCAL client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}${plannerSettings.join('')}`,
      );
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    },
    // A failed statement leaves the transaction aborted: roll back so the connection goes back clean.
    (client) => client.query('ROLLBACK'),
  );
}

/**
 * Runs a single-statement read (`work` sends one statement) under the
 * budget's statement timeout, in one round trip when it can: a budget of
 * `sessionTimeoutMs` (QUERY_STATEMENT_TIMEOUT, what a call without a nearer
 * deadline gets) is set on the connection's session once and kept there, so
 * the statement runs on its own, without BEGIN, SET and COMMIT around it.
 * Every pooled connection thus carries either no statement_timeout or this
 * one (writes set their own with SET LOCAL). A shorter budget, from a call's
 * deadline, runs in a transaction with SET LOCAL (withReadTransaction), so
 * that it never stays on the connection.
 */
export function withReadStatement<T>(pool: pg.Pool, budget: StatementBudget, sessionTimeoutMs: number, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  if (budget.timeoutMs < sessionTimeoutMs) return withReadTransaction(pool, budget, 'read committed', work);
  return withCheckedOut(pool, budget, async (client) => {
    const timeoutMs = wholeMs(sessionTimeoutMs);
    if (sessionTimeouts.get(client) !== timeoutMs) {
      await client.query(`SET statement_timeout = ${timeoutMs}; SET client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}`);
      sessionTimeouts.set(client, timeoutMs);
    }
    return work(client);
  });
}

/**
 * A pooled connection for `work`, dropped at once when the budget's signal
 * aborts. When `work` fails, `cleanUp` (a ROLLBACK, say) runs before the
 * connection goes back; a connection that cannot even do that is dropped.
 * The error is mapped by mapPgError.
 */
async function withCheckedOut<T>(pool: pg.Pool, budget: StatementBudget, work: (client: pg.PoolClient) => Promise<T>, cleanUp?: (client: pg.PoolClient) => Promise<unknown>): Promise<T> {
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
    return await work(client);
  } catch (error) {
    if (budget.signal.aborted) throw budget.signal.reason;
    if (!released && cleanUp) await cleanUp(client).catch((cleanUpError: unknown) => release(cleanUpError instanceof Error ? cleanUpError : new Error(String(cleanUpError))));
    throw mapPgError(error);
  } finally {
    budget.signal.removeEventListener('abort', onAbort);
    release();
  }
}

function wholeMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
