import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../observability/create-logger';

/** The versioned SQL migrations (`migrations/` at the package root). */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');
const MIGRATIONS_TABLE = 'pgmigrations';
/** The application_name of the connection that migrates (pg_stat_activity shows it). */
export const MIGRATIONS_APPLICATION_NAME = 'telemetry-vault migrations';

/**
 * Applies every pending migration with node-pg-migrate, in one transaction,
 * under its advisory lock (waiting for it, so that several instances starting
 * together apply each migration once). Returns the names applied now; an
 * up-to-date database gives an empty list.
 */
export async function runMigrations(databaseUrl: string, logger: Logger): Promise<string[]> {
  const { runner } = await import('node-pg-migrate');
  // Our own connection, not node-pg-migrate's: its client has no 'error'
  // listener and is ended without waiting, so a connection the server ends
  // meanwhile (a restart, pg_terminate_backend, DROP DATABASE ... FORCE)
  // would be an unhandled 'error' event, which ends the process.
  const client = new pg.Client({ connectionString: databaseUrl, application_name: MIGRATIONS_APPLICATION_NAME });
  client.on('error', (error) => logger.warn({ err: error }, 'the migrations connection failed'));
  await client.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: MIGRATIONS_TABLE,
      checkOrder: true,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      logger: {
        debug: (message: string) => logger.debug(message),
        info: (message: string) => logger.debug(message),
        warn: (message: string) => logger.warn(message),
        error: (message: string) => logger.error(message),
      },
    });
    const names = applied.map((migration) => migration.name);
    if (names.length > 0) logger.info({ migrations: names }, 'database migrations applied');
    return names;
  } finally {
    await client.end().catch(() => undefined);
  }
}
