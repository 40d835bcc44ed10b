import pino from 'pino';
import { MIGRATIONS_APPLICATION_NAME, runMigrations } from '../../src/storage/run-migrations';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually } from '../support/test-server';

const silent = pino({ level: 'silent' });

async function schemaOf(db: TestDatabase): Promise<string[]> {
  const result = await db.pool.query<{ item: string }>(`
    SELECT 'table ' || table_name AS item FROM information_schema.tables WHERE table_schema = 'public'
    UNION ALL
    SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    ORDER BY 1`);
  return result.rows.map((row) => row.item);
}

describe('migrations', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase({ migrate: false });
  });

  afterEach(async () => {
    await db.drop();
  });

  test('when applied to an empty database, then the tables and the system design indexes exist', async () => {
    const applied = await runMigrations(db.url, silent);
    expect(applied).toEqual(['0001_initial-schema', '0002_cursor-signing-key', '0003_tenant-last-seen', '0004_partitioned-events', '0005_event-rollups', '0006_live-tail-followers']);
    const schema = await schemaOf(db);
    expect(schema).toEqual(expect.arrayContaining(['table tenants', 'table api_keys', 'table events', 'table pgmigrations']));
    const indexes = schema.filter((item) => item.startsWith('index events'));
    // events is partitioned (migration 0004): the uniqueness is each partition's own (tenant_id, event_id).
    expect(indexes.join('\n')).toContain('UNIQUE INDEX events_before_tenant_id_event_id_key ON public.events_before USING btree (tenant_id, event_id)');
    expect(indexes.join('\n')).toContain('events_tenant_time_idx ON ONLY public.events USING btree (tenant_id, "timestamp" DESC, event_id DESC)');
    expect(indexes.join('\n')).toContain('events_tenant_type_time_idx ON ONLY public.events USING btree (tenant_id, event_type, "timestamp" DESC, event_id DESC)');
    expect(indexes.join('\n')).toContain('events_tenant_service_time_idx ON ONLY public.events USING btree (tenant_id, service_name, "timestamp" DESC, event_id DESC)');
  });

  test('when applied twice, then the second run applies nothing and changes nothing', async () => {
    await runMigrations(db.url, silent);
    const before = await schemaOf(db);
    expect(await runMigrations(db.url, silent)).toEqual([]);
    expect(await schemaOf(db)).toEqual(before);
  });

  test('when two instances migrate at the same moment, then each migration is applied once', async () => {
    const results = await Promise.all([runMigrations(db.url, silent), runMigrations(db.url, silent)]);
    expect(results.flat().sort()).toEqual(['0001_initial-schema', '0002_cursor-signing-key', '0003_tenant-last-seen', '0004_partitioned-events', '0005_event-rollups', '0006_live-tail-followers']);
    const recorded = await db.pool.query('SELECT name FROM pgmigrations ORDER BY name');
    expect(recorded.rows).toEqual([{ name: '0001_initial-schema' }, { name: '0002_cursor-signing-key' }, { name: '0003_tenant-last-seen' }, { name: '0004_partitioned-events' }, { name: '0005_event-rollups' }, { name: '0006_live-tail-followers' }]);
  });

  test('when the database ends the migrations connection while it waits for another instance, then migrating fails with the error and nothing is left unhandled', async () => {
    const errors: unknown[] = [];
    const onError = (error: unknown): number => errors.push(error);
    process.on('uncaughtException', onError);
    const holder = await db.pool.connect();
    try {
      // The advisory lock node-pg-migrate takes (its well-known id), held by "another instance".
      await holder.query('SELECT pg_advisory_lock(7241865325823964)');
      const migrating = runMigrations(db.url, silent);
      const waiting = await eventually(async () => {
        const rows = (await db.pool.query('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event_type = $2', [MIGRATIONS_APPLICATION_NAME, 'Lock'])).rows;
        expect(rows).toHaveLength(1);
        return rows[0]!.pid as number;
      });
      await db.pool.query('SELECT pg_terminate_backend($1)', [waiting]);
      await expect(migrating).rejects.toThrow(/terminat/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
      await holder.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      holder.release();
    }
  });

  test('when api keys are stored, then only a 32-byte hash fits: the schema refuses anything else', async () => {
    await runMigrations(db.url, silent);
    const tenant = await db.pool.query<{ id: string }>("INSERT INTO tenants (name) VALUES ('t1') RETURNING id");
    await expect(
      db.pool.query("INSERT INTO api_keys (tenant_id, key_hash, prefix) VALUES ($1, convert_to('tv_plaintext', 'UTF8'), 'tv_plaintext')", [tenant.rows[0]!.id]),
    ).rejects.toMatchObject({ code: '23514' });
  });
});
