import type pg from 'pg';
import type { StatementBudget } from '../domain/statement-budget';
import { mapPgError } from './map-pg-error';

/**
 * How often PostgreSQL checks, while a statement runs, that our connection
 * is still there. A stopped call drops its connection (see withConnection);
 * with this, the server abandons the statement within a second instead of
 * running it to the end of its statement timeout.
 */
export const CLIENT_CONNECTION_CHECK_INTERVAL_MS = 1000;

/** Where a unit of work gets its connection: a pg.Pool, ReadShare, or a ReadFailover over two. */
export interface ConnectionSource {
  connect(): Promise<pg.PoolClient>;
  /** connect, for a source whose line a caller can leave: when `signal` aborts while it waits, it fails with the signal's reason. */
  connectUntilAborted?(signal: AbortSignal): Promise<pg.PoolClient>;
}

/** The access and isolation of a transaction. */
export type TransactionMode = 'read only' | 'read only repeatable read' | 'read write';

/** Planner settings for one transaction (SET LOCAL), fixed by our code. */
export interface PlannerSettings {
  readonly enable_sort?: 'on' | 'off';
  readonly enable_incremental_sort?: 'on' | 'off';
  readonly jit?: 'on' | 'off';
}

const BEGIN: Readonly<Record<TransactionMode, string>> = {
  'read only': 'BEGIN READ ONLY',
  'read only repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  'read write': 'BEGIN',
};

/** The session-level statement_timeout each pooled connection already carries (set by withSingleStatement). */
const sessionTimeouts = new WeakMap<pg.PoolClient, number>();

/**
 * One unit of database work on a pooled connection, for reads and writes
 * alike. The connection lives only as long as the work:
 *
 * - it is checked out (a full pool is UNAVAILABLE after the bounded wait,
 *   see BoundedPool), and a connection lost while checked out is never
 *   reused. A call stopped while it waits for the connection fails at once
 *   with the signal's reason, and leaves the line where its source lets it
 *   (ReadShare, BoundedPool); a connection that comes after that goes straight back;
 * - when the budget's signal aborts (the call was cancelled, passed its
 *   deadline, or the server failed it), the connection is dropped at once,
 *   whatever runs on it: PostgreSQL rolls back what was not committed and
 *   stops the statement within CLIENT_CONNECTION_CHECK_INTERVAL_MS, and the
 *   pool slot is free again. The work then fails with the signal's reason;
 * - when `work` fails, `cleanUp` (a ROLLBACK) runs before the connection goes
 *   back; a connection that cannot even do that is dropped.
 *
 * Database errors are mapped by mapPgError (a statement timeout becomes
 * DEADLINE_EXCEEDED, a lost database UNAVAILABLE).
 */
export async function withConnection<T>(pool: ConnectionSource, signal: AbortSignal, work: (client: pg.PoolClient) => Promise<T>, cleanUp?: (client: pg.PoolClient) => Promise<unknown>): Promise<T> {
  signal.throwIfAborted();
  const client = await connectionFor(pool, signal);
  try {
    return await whileHeld(client, work, cleanUp, signal);
  } catch (error) {
    // whileHeld throws the signal's reason as it is when the call was stopped.
    throw callFailure(error, signal);
  }
}

/**
 * checkOut for a call: the signal's reason as it is when the call stopped
 * while it waited, any other failure mapped by mapPgError.
 */
export async function connectionFor(pool: ConnectionSource, signal: AbortSignal): Promise<pg.PoolClient> {
  try {
    return await checkOut(pool, signal);
  } catch (error) {
    throw callFailure(error, signal);
  }
}

/** What a call's database work failed with: the signal's reason as it is when the call was stopped, else mapPgError's error. */
function callFailure(error: unknown, signal: AbortSignal): unknown {
  return error === signal.reason ? error : mapPgError(error);
}

/** A connection from `pool`, or the signal's reason as soon as it aborts while the caller waits; without a signal, pool.connect(). */
export function checkOut(pool: ConnectionSource, signal: AbortSignal | undefined): Promise<pg.PoolClient> {
  if (signal === undefined) return pool.connect();
  if (pool.connectUntilAborted !== undefined) return pool.connectUntilAborted(signal);
  // A plain pg pool's line cannot be left: the connection it gives later goes straight back.
  return untilAborted(pool.connect(), signal);
}

/**
 * The connection `pending` brings, or the signal's reason as soon as it
 * aborts first: `leave` then takes the caller out of the line it waits in,
 * where its source can, and a connection that still comes goes straight back.
 */
export function untilAborted(pending: Promise<pg.PoolClient>, signal: AbortSignal, leave?: () => void): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      leave?.();
      pending.then(
        (late) => late.release(),
        () => undefined,
      );
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (client) => {
        signal.removeEventListener('abort', onAbort);
        resolve(client);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A pooled connection for work outside any call (the data lifecycle's
 * rounds, partitions made on demand, the rollups' batches), for as long as
 * `work` runs, held as withConnection holds one but with no call to stop it;
 * errors are PostgreSQL's own, not mapped.
 */
export async function withPooledClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, cleanUp?: (client: pg.PoolClient) => Promise<unknown>): Promise<T> {
  return whileHeld(await pool.connect(), work, cleanUp);
}

/**
 * Holds a checked-out `client` while `work` runs, then gives it back; what
 * withConnection and withPooledClient share. pg-pool takes its error
 * listener off a client while it is checked out, and a client that then
 * loses its connection (the database stopped, the backend terminated) emits
 * 'error', which with no listener would crash the process: the listener
 * here keeps the error, and a connection that failed is dropped, not reused.
 * When `work` fails, `cleanUp` (a ROLLBACK) runs first; a connection that
 * cannot even do that is dropped, not handed to the next user
 * mid-transaction. When `signal` aborts, the connection is dropped at once,
 * whatever runs on it, and the work fails with the signal's reason.
 */
async function whileHeld<T>(client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>, cleanUp?: (client: pg.PoolClient) => Promise<unknown>, signal?: AbortSignal): Promise<T> {
  let broken: Error | undefined;
  let released = false;
  const release = (destroyWith?: Error): void => {
    if (released) return;
    released = true;
    client.release(destroyWith);
  };
  const onError = (error: Error): void => {
    broken ??= error;
  };
  const onAbort = (): void => release(new Error('the call was stopped'));
  client.on('error', onError);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    return await work(client);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (!released && broken === undefined && cleanUp) {
      await cleanUp(client).catch((cleanUpError: unknown) => {
        broken = cleanUpError instanceof Error ? cleanUpError : new Error(String(cleanUpError));
      });
    }
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.off('error', onError);
    release(broken);
  }
}

/**
 * Runs `work` in one transaction (BEGIN ... COMMIT, ROLLBACK when it fails)
 * under the budget's statement timeout, set with SET LOCAL so that it ends
 * with the transaction and never leaks into the pool, on a connection that
 * lives as withConnection says. Every value in the opening round trip is
 * ours (whole numbers, fixed words), never client text.
 */
export function withTransaction<T>(pool: ConnectionSource, budget: StatementBudget, mode: TransactionMode, work: (client: pg.PoolClient) => Promise<T>, planner: PlannerSettings = {}): Promise<T> {
  const plannerSettings = Object.entries(planner).map(([name, value]) => `; SET LOCAL ${name} = ${value}`);
  return withConnection(
    pool,
    budget.signal,
    async (client) => {
      await client.query(`${BEGIN[mode]}; SET LOCAL statement_timeout = ${wholeMs(budget.timeoutMs)}; SET LOCAL client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}${plannerSettings.join('')}`);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    },
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
 * one (transactions set their own with SET LOCAL). A shorter budget, from a
 * call's deadline, runs in a read-only transaction (withTransaction), so
 * that it never stays on the connection.
 */
export function withSingleStatement<T>(pool: ConnectionSource, budget: StatementBudget, sessionTimeoutMs: number, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  if (budget.timeoutMs < sessionTimeoutMs) return withTransaction(pool, budget, 'read only', work);
  return withConnection(pool, budget.signal, async (client) => {
    const timeoutMs = wholeMs(sessionTimeoutMs);
    if (sessionTimeouts.get(client) !== timeoutMs) {
      await client.query(`SET statement_timeout = ${timeoutMs}; SET client_connection_check_interval = ${CLIENT_CONNECTION_CHECK_INTERVAL_MS}`);
      sessionTimeouts.set(client, timeoutMs);
    }
    return work(client);
  });
}

function wholeMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
