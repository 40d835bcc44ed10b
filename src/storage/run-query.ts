import type pg from 'pg';
import { mapPgError } from './map-pg-error';

/** Runs one statement with bound parameters, mapping failures to domain errors. */
export async function runQuery<R extends pg.QueryResultRow>(
  db: pg.Pool | pg.PoolClient,
  text: string,
  values: readonly unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await db.query<R>(text, values as unknown[]);
  } catch (error) {
    throw mapPgError(error);
  }
}
