import pg from 'pg';
import { runOneRoundTripCopy } from '../../src/storage/one-round-trip-copy';
import { deadlineGuard } from '../../src/storage/event-writer';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/**
 * The writer's one-round-trip transaction (src/storage/one-round-trip-copy.ts):
 * the statements, the COPY data and CopyDone go out together, before
 * PostgreSQL asks for the data. These tests pin the protocol behaviour the
 * writer relies on, against a real PostgreSQL: the script runs in order, its
 * last result comes back, and a failure anywhere leaves nothing stored and
 * the connection in step for its next query.
 */

let database: TestDatabase;
let client: pg.Client;

const TABLE = 'CREATE TEMP TABLE IF NOT EXISTS copied (n int NOT NULL, word text NOT NULL)';
const COPY = 'COPY copied (n, word) FROM STDIN';

function rows(from: number, to: number): Buffer {
  let text = '';
  for (let n = from; n < to; n++) text += `${n}\tw${n}\n`;
  return Buffer.from(text);
}

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query(TABLE);
});

afterAll(async () => {
  await client.end();
  await database.drop();
});

beforeEach(async () => {
  await client.query('TRUNCATE copied');
});

test('runs BEGIN, the COPY with every chunk, the statements after it and COMMIT in order, and answers with the last rows', async () => {
  const result = await runOneRoundTripCopy(client, {
    before: ['BEGIN', 'SET LOCAL statement_timeout = 5000', 'SELECT 1 AS first'],
    copy: COPY,
    after: ['SELECT word, count(*)::int AS rows FROM copied GROUP BY word ORDER BY word LIMIT 2', 'COMMIT'],
    chunks: [rows(0, 1000), Buffer.alloc(0), rows(1000, 2500)],
  });
  expect(result).toEqual([
    { word: 'w0', rows: '1' },
    { word: 'w1', rows: '1' },
  ]);
  const stored = await client.query<{ count: number; sum: string }>('SELECT count(*)::int AS count, sum(n)::text AS sum FROM copied');
  expect(stored.rows[0]).toEqual({ count: 2500, sum: String((2499 * 2500) / 2) });
});

test('a statement before the COPY fails: the data sent behind it is ignored, nothing is stored, and the connection answers its next query', async () => {
  const failure = runOneRoundTripCopy(client, {
    before: ['BEGIN', 'SELECT 1 / 0'],
    copy: COPY,
    after: ['COMMIT'],
    chunks: [rows(0, 100)],
  });
  await expect(failure).rejects.toBeInstanceOf(pg.DatabaseError);
  await expect(failure).rejects.toMatchObject({ code: '22012' });
  await client.query('ROLLBACK');
  expect((await client.query('SELECT count(*)::int AS count FROM copied')).rows[0]).toEqual({ count: 0 });
  expect((await client.query('SELECT 42 AS answer')).rows[0]).toEqual({ answer: 42 });
});

test('a bad row inside the COPY fails the script before COMMIT: nothing of it is stored', async () => {
  const failure = runOneRoundTripCopy(client, {
    before: ['BEGIN'],
    copy: COPY,
    after: ['COMMIT'],
    chunks: [rows(0, 10), Buffer.from('not-a-number\tword\n'), rows(10, 20)],
  });
  await expect(failure).rejects.toMatchObject({ code: '22P02' });
  await client.query('ROLLBACK');
  expect((await client.query('SELECT count(*)::int AS count FROM copied')).rows[0]).toEqual({ count: 0 });
});

test('a statement after the COPY fails: COMMIT never runs and the copied rows are rolled back', async () => {
  const failure = runOneRoundTripCopy(client, {
    before: ['BEGIN'],
    copy: COPY,
    after: ['SELECT 1 / 0', 'COMMIT'],
    chunks: [rows(0, 50)],
  });
  await expect(failure).rejects.toMatchObject({ code: '22012' });
  // Still inside the failed transaction: COMMIT was skipped with the rest of the script.
  await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
  await client.query('ROLLBACK');
  expect((await client.query('SELECT count(*)::int AS count FROM copied')).rows[0]).toEqual({ count: 0 });
});

test('the session is terminated while the script runs: the promise rejects with the FATAL error or the lost connection', async () => {
  const victim = new pg.Client({ connectionString: database.url });
  await victim.connect();
  victim.on('error', () => undefined);
  const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const failure = runOneRoundTripCopy(victim, {
    before: ['BEGIN', 'SELECT pg_sleep(30)'],
    copy: COPY,
    after: ['COMMIT'],
    chunks: [rows(0, 10)],
  }).then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  const killer = new pg.Client({ connectionString: database.url });
  await killer.connect();
  try {
    for (let tries = 0; ; tries++) {
      const waiting = await killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%'", [pid]);
      if (waiting.rowCount === 1 || tries > 200) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await killer.end();
  }
  const error = await failure;
  expect(error).toBeInstanceOf(Error);
  // pg_terminate_backend sends FATAL 57P01 first; either that or the lost socket ends the script.
  if (error instanceof pg.DatabaseError) expect(error.code).toBe('57P01');
  else expect(String(error)).toMatch(/Connection terminated/);
});

describe("the writer's deadline guard before COMMIT", () => {
  test('when the script has run past the time left, PostgreSQL refuses to commit with query_canceled and nothing is stored, however long each statement took on its own', async () => {
    // Each statement alone stays within statement_timeout; the whole script does not.
    const failure = runOneRoundTripCopy(client, {
      before: ['BEGIN', 'SET LOCAL statement_timeout = 250', 'SELECT pg_sleep(0.15)'],
      copy: COPY,
      after: ['SELECT pg_sleep(0.15)', deadlineGuard(250), 'COMMIT'],
      chunks: [rows(0, 10)],
    });
    await expect(failure).rejects.toMatchObject({ code: '57014', message: expect.stringContaining('passed its deadline') });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS count FROM copied')).rows[0].count).toBe(0);
  });

  test('when the script is within the time left, it commits', async () => {
    await runOneRoundTripCopy(client, {
      before: ['BEGIN', 'SELECT pg_sleep(0.05)'],
      copy: COPY,
      after: [deadlineGuard(5000), 'COMMIT'],
      chunks: [rows(0, 10)],
    });
    expect((await client.query('SELECT count(*)::int AS count FROM copied')).rows[0].count).toBe(10);
  });
});
