import path from 'node:path';
import type { Logger } from '../observability/create-logger';

/** The versioned SQL migrations (`migrations/` at the package root). */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');
const MIGRATIONS_TABLE = 'pgmigrations';

/**
 * Applies every pending migration with node-pg-migrate, in one transaction,
 * under its advisory lock (waiting for it, so that several instances starting
 * together apply each migration once). Returns the names applied now; an
 * up-to-date database gives an empty list.
 */
export async function runMigrations(databaseUrl: string, logger: Logger): Promise<string[]> {
  const { runner } = await import('node-pg-migrate');
  const applied = await runner({
    databaseUrl,
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
}
