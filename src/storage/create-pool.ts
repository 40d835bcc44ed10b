import pg from 'pg';
import type { PoolSettings } from '../config/load-config';
import type { Logger } from '../observability/create-logger';
import { BoundedPool } from './bounded-pool';

// int8 (count(*), bigint columns) as JavaScript numbers: every count we return
// is far below 2^53, and strings would leak into the domain.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

/**
 * A pg connection pool with the named settings, whose queue of callers
 * waiting for a connection is bounded (BoundedPool). Errors of idle
 * connections (a database restart, say) are logged instead of crashing the
 * process; the pool replaces such connections on the next checkout.
 */
export function createPool(url: string, settings: PoolSettings, logger: Logger, applicationName = 'telemetry-vault'): pg.Pool {
  const pool = new BoundedPool({
    connectionString: url,
    max: settings.max,
    idleTimeoutMillis: settings.idleTimeoutMs,
    connectionTimeoutMillis: settings.connectionTimeoutMs,
    maxWaiting: settings.maxWaiting,
    application_name: applicationName,
  });
  pool.on('error', (error) => logger.warn({ err: error }, 'an idle database connection failed; it will be replaced'));
  return pool;
}
