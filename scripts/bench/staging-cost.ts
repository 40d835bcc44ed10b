/**
 * `node -r ./scripts/register-ts.js scripts/bench/staging-cost.ts [--sizes 10,100,1000] [--rounds 3]`:
 * what emptying the ingest staging table costs PostgreSQL per group
 * (docs/performance.md, "Emptying the staging table"). One connection per
 * way of emptying it, each running the writer's exact group (BEGIN and live
 * tail's lock, COPY into staging, the prepared merge, COMMIT, in one round
 * trip) for groups of each size, rounds interleaved:
 *
 *   on commit delete rows   the writer's table (CREATE_STAGING): PostgreSQL
 *                           truncates it at every commit of a transaction
 *                           that touched a temporary table;
 *   delete, vacuum per MiB  the same table without ON COMMIT DELETE ROWS,
 *                           emptied by a DELETE before each COMMIT, and
 *                           VACUUMed after each MiB of COPY data;
 *   truncate before commit  the same table without ON COMMIT DELETE ROWS,
 *                           emptied by a TRUNCATE before each COMMIT;
 *
 * and, to isolate the truncation, COPY and COMMIT alone (no merge) into the
 * writer's table and into one never emptied (its rows pile up, so that one
 * runs 10-event groups only).
 *
 * Prints the backends' CPU (/proc) per group and per event, medians.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { COPY_INTO_STAGING, CREATE_STAGING, executeMerge, PREPARE_MERGE } from '../../src/storage/event-writer';
import { LIVE_TAIL_WRITER_LOCK } from '../../src/storage/live-tail-notify';
import { runOneRoundTripCopy } from '../../src/storage/one-round-trip-copy';
import { runMigrations } from '../../src/storage/run-migrations';
import { createBenchTenants, openBenchDatabase } from './bench-database';
import { connectAll, processCpuSeconds } from './database-baselines';
import { benchEvent, toCopyRow } from './event-shape';
import { median } from './format-report';

const log = (line: string): void => void process.stderr.write(`[staging-cost ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const PRESERVE_ROWS = CREATE_STAGING.replace(' ON COMMIT DELETE ROWS', '');
if (PRESERVE_ROWS === CREATE_STAGING) throw new Error('staging-cost: CREATE_STAGING no longer says ON COMMIT DELETE ROWS; update this script');
const VACUUM_EVERY_BYTES = 1 << 20;

interface Way {
  readonly name: string;
  readonly setup: string;
  /** The group's statements after its COPY. */
  readonly after: (tenantId: string) => string[];
  readonly vacuum: boolean;
  readonly smallOnly: boolean;
}

const WAYS: readonly Way[] = [
  { name: 'on commit delete rows (shipped)', setup: `${CREATE_STAGING}; ${PREPARE_MERGE}`, after: (t) => [executeMerge([t]), 'COMMIT'], vacuum: false, smallOnly: false },
  { name: 'delete, vacuum per MiB', setup: `${PRESERVE_ROWS}; ${PREPARE_MERGE}`, after: (t) => [executeMerge([t]), 'DELETE FROM ingest_staging', 'COMMIT'], vacuum: true, smallOnly: false },
  { name: 'truncate before commit', setup: `${PRESERVE_ROWS}; ${PREPARE_MERGE}`, after: (t) => [executeMerge([t]), 'TRUNCATE ingest_staging', 'COMMIT'], vacuum: false, smallOnly: false },
  { name: 'COPY and COMMIT alone, on commit delete rows', setup: CREATE_STAGING, after: () => ['COMMIT'], vacuum: false, smallOnly: false },
  { name: 'COPY and COMMIT alone, never emptied', setup: PRESERVE_ROWS, after: () => ['COMMIT'], vacuum: false, smallOnly: true },
];

interface Session {
  readonly way: Way;
  readonly client: pg.Client;
  readonly pid: number;
  stagedBytes: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10,100,1000' }, rounds: { type: 'string', default: '3' } } });
  const sizes = values.sizes.split(',').map(Number);
  const rounds = Number(values.rounds);
  const database = await openBenchDatabase({ adminUrl: process.env.BENCH_DATABASE_URL, adminUrlSource: 'BENCH_DATABASE_URL', log });
  const sessions: Session[] = [];
  try {
    await runMigrations(database.url, pino({ level: 'warn' }));
    const tenantId = (await createBenchTenants(database.url, 'staging-cost'))[0]!.id;
    for (const way of WAYS) {
      const [client] = await connectAll(database.url, 1, way.setup);
      const pid = (await client!.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      sessions.push({ way, client: client!, pid, stagedBytes: 0 });
    }
    let next = 0;
    const group = (size: number): Buffer => Buffer.from(Array.from({ length: size }, () => toCopyRow(benchEvent(`staging-${process.pid}`, next++))).join(''));
    const rows: string[] = [];
    for (const size of sizes) {
      const groups = Math.max(30, Math.round(20_000 / size));
      const perGroup = new Map<Session, number[]>();
      for (let round = 0; round < rounds; round++) {
        for (const session of sessions) {
          if (session.way.smallOnly && size > 10) continue;
          const data = Array.from({ length: groups }, () => group(size));
          const before = processCpuSeconds([session.pid]);
          for (const chunk of data) {
            await runOneRoundTripCopy(session.client, { before: ['BEGIN', LIVE_TAIL_WRITER_LOCK], copy: COPY_INTO_STAGING, after: session.way.after(tenantId), chunks: [chunk] });
            session.stagedBytes += chunk.length;
            if (session.way.vacuum && session.stagedBytes >= VACUUM_EVERY_BYTES) {
              await session.client.query('VACUUM ingest_staging');
              session.stagedBytes = 0;
            }
          }
          const after = processCpuSeconds([session.pid]);
          if (before === undefined || after === undefined) throw new Error('the database runs on another machine: its CPU cannot be read from /proc');
          perGroup.set(session, [...(perGroup.get(session) ?? []), ((after - before) / groups) * 1e6]);
        }
      }
      for (const [session, micros] of perGroup) {
        const us = median(micros);
        rows.push(`| ${size} | ${session.way.name} | ${us.toFixed(0)} | ${(us / size).toFixed(1)} | ${micros.map((m) => m.toFixed(0)).join(', ')} |`);
      }
      log(`groups of ${size} done`);
    }
    process.stdout.write(
      [`Database CPU per group, the writer's statements, ${rounds} rounds (medians):`, '', '| events per group | staging table | µs per group | µs per event | rounds |', '|---:|---|---:|---:|---|', ...rows, ''].join('\n'),
    );
  } finally {
    await Promise.all(sessions.map((session) => session.client.end()));
    await database.close();
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
