/**
 * Filling `events` with tens of millions of generated rows for the scale
 * benches (scale-bench.ts, rollup-bench.ts): the rows go in with no index to
 * maintain, and the indexes and unique constraints are built afterwards by
 * sorting (one pass each, maintenance_work_mem of its own), several times
 * faster than maintaining four B-trees row by row. The rebuilt indexes have
 * the same definitions as before (pg_get_indexdef, pg_get_constraintdef);
 * only the partitions' index names may differ.
 */
import type pg from 'pg';

/** Runs `fill` on `events` with its indexes and unique constraints dropped, then builds them again. */
export async function fillWithoutIndexes(client: pg.ClientBase, fill: () => Promise<void>): Promise<void> {
  const indexes = await client.query<{ name: string; def: string }>(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
      WHERE i.indrelid = 'events'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
  );
  const constraints = await client.query<{ table: string; name: string; def: string }>(
    `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE contype IN ('u', 'p') AND conrelid IN (SELECT relid FROM pg_partition_tree('events'))`,
  );
  for (const index of indexes.rows) await client.query(`DROP INDEX ${index.name}`);
  for (const constraint of constraints.rows) await client.query(`ALTER TABLE ${constraint.table} DROP CONSTRAINT ${constraint.name}`);
  await fill();
  await client.query("SET maintenance_work_mem = '512MB'");
  // pg_get_indexdef prints a partitioned index as ON ONLY events (the parent alone, its partitions left without):
  // without ONLY, CREATE INDEX builds it on every partition and attaches them.
  for (const index of indexes.rows) await client.query(index.def.replace(/ ON ONLY /, ' ON '));
  for (const constraint of constraints.rows) await client.query(`ALTER TABLE ${constraint.table} ADD CONSTRAINT ${constraint.name} ${constraint.def}`);
  await client.query('RESET maintenance_work_mem');
  const invalid = await client.query<{ name: string }>(
    `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid AND indrelid IN (SELECT relid FROM pg_partition_tree('events'))`,
  );
  if (invalid.rows.length > 0) throw new Error(`indexes left invalid after the fill: ${invalid.rows.map((row) => row.name).join(', ')}`);
}
