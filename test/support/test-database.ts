import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { runMigrations } from '../../src/storage/run-migrations';

/** A database of its own for one test file. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** A small pool on it, for assertions that read tables directly. */
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

/** The URL of the run's PostgreSQL (set by global-setup.ts). */
export function adminUrl(): string {
  const url = process.env.TV_TEST_ADMIN_URL;
  if (!url) throw new Error('TV_TEST_ADMIN_URL is not set: run the tests through jest (npm test), whose global setup provides PostgreSQL');
  return url;
}

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Creates a fresh database, migrated unless `migrate` is false. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `tv_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(adminUrl(), name);
  if (options.migrate !== false) await runMigrations(url, pino({ level: 'silent' }));
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // DROP DATABASE ... WITH (FORCE) may terminate a connection pool.end() is
  // still closing; the pool re-emits that as 'error', which must not crash the run.
  pool.on('error', () => undefined);
  return {
    url,
    name,
    pool,
    drop: async () => {
      await pool.end();
      const client = new pg.Client({ connectionString: adminUrl() });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
