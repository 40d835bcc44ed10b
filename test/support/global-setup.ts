import { provideTestPostgres, type TestPostgres } from './test-postgres-provider';

declare global {
  // eslint-disable-next-line no-var
  var __TEST_POSTGRES__: TestPostgres | undefined;
}

/** Starts the run's PostgreSQL once; test files read its URL from TV_TEST_ADMIN_URL. */
export default async function globalSetup(): Promise<void> {
  const postgres = await provideTestPostgres((line) => process.stderr.write(`\n${line}\n`));
  globalThis.__TEST_POSTGRES__ = postgres;
  process.env.TV_TEST_ADMIN_URL = postgres.adminUrl;
  process.stderr.write(`test PostgreSQL: ${postgres.description}\n`);
}
