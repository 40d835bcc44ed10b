import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { runCliCaptured } from '../support/run-cli-captured';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

interface KeyJson {
  id: string;
  tenant: string;
  tenantId: string;
  prefix: string;
  status: string;
  key?: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

describe('the telemetry-vault command on DATABASE_URL', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const cli = (...argv: string[]) => runCliCaptured(argv, env);

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    env = { DATABASE_URL: db.url };
  });

  afterAll(async () => {
    await db.drop();
  });

  test('when migrate runs on an empty database and again, then it applies the schema once and reports it', async () => {
    const first = await cli('migrate', '--json');
    expect(first.code).toBe(0);
    expect(first.json()).toEqual({ applied: ['0001_initial-schema', '0002_cursor-signing-key', '0003_tenant-last-seen', '0004_partitioned-events', '0005_event-rollups', '0006_live-tail-followers'] });
    const second = await cli('migrate');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('up to date');
  });

  test('when a tenant is created with overrides, then --json prints it and tenant list shows it', async () => {
    const created = await cli('tenant', 'create', 'acme', '--events-per-second', '500', '--event-burst', '900', '--json');
    expect(created.code).toBe(0);
    expect(created.json()).toMatchObject({ name: 'acme', eventsPerSecond: 500, eventBurst: 900, callsPerMinute: null });

    const listed = await cli('tenant', 'list', '--json');
    expect(listed.json<{ name: string }[]>().map((tenant) => tenant.name)).toContain('acme');
    const table = await cli('tenant', 'list');
    expect(table.stdout).toMatch(/^NAME\s+ID\s+CALLS\/MIN\s+EVENTS\/S\s+BURST\s+RETENTION\s+CREATED/);
    expect(table.stdout).toMatch(/acme\s+\S+\s+default\s+500\s+900/);
  });

  test('when a tenant name is taken or invalid, then the command fails with exit code 1 and says why', async () => {
    await cli('tenant', 'create', 'taken');
    const again = await cli('tenant', 'create', 'taken');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('a tenant named "taken" already exists');
    const invalid = await cli('tenant', 'create', 'no spaces please');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('name: must be 1..63 characters');
  });

  test('when a key is created, then it is printed once and only its SHA-256 hash and prefix are stored', async () => {
    await cli('tenant', 'create', 'keyed');
    const created = await cli('key', 'create', 'keyed', '--json');
    expect(created.code).toBe(0);
    const key = created.json<KeyJson>();
    expect(key.key).toMatch(/^tv_[A-Za-z0-9_-]{43}$/);
    expect(key).toMatchObject({ tenant: 'keyed', status: 'active', expiresAt: null, prefix: key.key!.slice(0, 11) });

    const stored = await db.pool.query<{ key_hash: Buffer; prefix: string }>('SELECT key_hash, prefix FROM api_keys WHERE id = $1', [key.id]);
    expect(stored.rows[0]!.key_hash.equals(createHash('sha256').update(key.key!).digest())).toBe(true);
    const everything = await db.pool.query('SELECT row_to_json(k)::text AS row FROM api_keys k');
    expect(everything.rows.map((row: { row: string }) => row.row).join('\n')).not.toContain(key.key!.slice(11));

    const human = await cli('key', 'create', 'keyed');
    expect(human.stdout).toMatch(/only time the key is shown/);
    expect(human.stdout).toMatch(/\n {2}tv_[A-Za-z0-9_-]{43}\n/);
  });

  test('when a key is created with --expires-in, then its expiry is that far ahead', async () => {
    await cli('tenant', 'create', 'expiring');
    const before = Date.now();
    const key = (await cli('key', 'create', 'expiring', '--expires-in', '30d', '--json')).json<KeyJson>();
    const expires = Date.parse(key.expiresAt!);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000 + 1000);
    const bad = await cli('key', 'create', 'expiring', '--expires-in', 'forever');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--expires-in must be a duration');
  });

  test('when keys are listed and one is revoked, then the list shows each status and revoking twice keeps the first time', async () => {
    await cli('tenant', 'create', 'rotating');
    const first = (await cli('key', 'create', 'rotating', '--json')).json<KeyJson>();
    const second = (await cli('key', 'create', 'rotating', '--json')).json<KeyJson>();
    const revoked = await cli('key', 'revoke', first.id, '--json');
    expect(revoked.code).toBe(0);
    const revokedAt = revoked.json<KeyJson>().revokedAt;
    expect(revokedAt).not.toBeNull();
    expect((await cli('key', 'revoke', first.id, '--json')).json<KeyJson>().revokedAt).toBe(revokedAt);

    const listed = (await cli('key', 'list', 'rotating', '--json')).json<KeyJson[]>();
    expect(listed.map((key) => [key.id, key.status])).toEqual([
      [first.id, 'revoked'],
      [second.id, 'active'],
    ]);
    expect(listed.every((key) => key.key === undefined)).toBe(true);
    const table = await cli('key', 'list', 'rotating');
    expect(table.stdout).toMatch(/^ID\s+PREFIX\s+STATUS/);
    expect(table.stdout).not.toContain(second.key!);
  });

  test('when a command names what does not exist, then it fails with exit code 1', async () => {
    const tenant = await cli('key', 'create', 'nobody');
    expect(tenant.code).toBe(1);
    expect(tenant.stderr).toContain('no tenant named "nobody"');
    const key = await cli('key', 'revoke', '00000000-0000-4000-8000-000000000000');
    expect(key.code).toBe(1);
    expect(key.stderr).toContain('no API key with id');
    const malformed = await cli('key', 'revoke', 'not-an-id');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('key-id');
  });

  test.each([
    [['frobnicate'], 'unknown command: frobnicate'],
    [['tenant'], 'tenant needs a subcommand'],
    [['tenant', 'create'], 'usage: telemetry-vault tenant create NAME'],
    [['tenant', 'create', 'x', '--events-per-second', 'lots'], '--events-per-second must be a positive whole number'],
    [['tenant', 'list', '--colour'], "Unknown option '--colour'"],
    [['key', 'list'], 'usage: telemetry-vault key list TENANT'],
  ])('when the command line is %j, then it fails with exit code 2, the reason and the usage', async (argv, reason) => {
    const result = await cli(...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(reason);
    expect(result.stderr).toContain('Usage: telemetry-vault <command>');
  });

  test('when the configuration is bad, then the command fails with exit code 78 naming the variable', async () => {
    const result = await runCliCaptured(['tenant', 'list'], { DATABASE_URL: db.url, DB_POOL_MAX: 'many' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('DB_POOL_MAX must be an integer');
  });

  test('when asked for help, then the usage goes to stdout with exit code 0', async () => {
    const result = await cli('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('key revoke KEY_ID');
  });
});

describe('the telemetry-vault command on the embedded database, with no server running', () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-cli-'));
  });

  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('when commands run one after the other, then they share the data kept under VAULT_DATA_DIR and leave no database running', async () => {
    const env = { VAULT_DATA_DIR: dataDir };
    const created = await runCliCaptured(['tenant', 'create', 'embedded-one', '--json'], env);
    expect(created.code).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

    const listed = await runCliCaptured(['tenant', 'list', '--json'], env);
    expect(listed.json<{ name: string }[]>().map((tenant) => tenant.name)).toEqual(['embedded-one']);
    expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  });
});
