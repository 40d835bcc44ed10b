import { provideTestPostgres, type TestPostgres } from './test-postgres-provider';
import { redisUnavailableReason, TEST_REDIS_URL } from './test-redis';

declare global {
  var __TEST_POSTGRES__: TestPostgres | undefined;
}

/**
 * Starts the run's PostgreSQL once; test files read its URL from
 * TV_TEST_ADMIN_URL. Probes Redis once too: TV_TEST_REDIS_SKIP holds why the
 * Redis tests skip, when they do.
 */
export default async function globalSetup(): Promise<void> {
  const postgres = await provideTestPostgres((line) => process.stderr.write(`\n${line}\n`));
  globalThis.__TEST_POSTGRES__ = postgres;
  process.env.TV_TEST_ADMIN_URL = postgres.adminUrl;
  process.stderr.write(`test PostgreSQL: ${postgres.description}\n`);
  const redisSkip = await redisUnavailableReason();
  if (redisSkip === undefined) {
    delete process.env.TV_TEST_REDIS_SKIP;
    process.stderr.write(`test Redis: ${TEST_REDIS_URL}\n`);
  } else {
    process.env.TV_TEST_REDIS_SKIP = redisSkip;
    process.stderr.write(`test Redis: skipping the Redis tests: ${redisSkip}\n`);
  }
}
