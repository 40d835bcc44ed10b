import { parseArgs } from 'node:util';
import { formatDuration, parseDuration } from '../config/parse-duration';
import type { Config } from '../config/load-config';
import { AdminService } from '../domain/tenants/admin-service';
import type { ApiKeyRecord } from '../domain/tenants/api-key';
import type { Tenant } from '../domain/tenants/tenant';
import type { Logger } from '../observability/create-logger';
import { ApiKeyRepository } from '../storage/api-key-repository';
import { createPool } from '../storage/create-pool';
import { openDatabase } from '../storage/open-database';
import { runMigrations } from '../storage/run-migrations';
import { TenantRepository } from '../storage/tenant-repository';
import { formatDate, printJson, printTable, UsageError, type CliIo } from './output';

/**
 * Runs `fn` against the configured database: the server's running embedded
 * cluster when there is one, else the embedded cluster started (and stopped)
 * for this command, else DATABASE_URL. The schema is migrated first.
 */
async function withDatabase<T>(config: Config, logger: Logger, fn: (admin: AdminService) => Promise<T>): Promise<T> {
  const database = await openDatabase(config, logger, { role: 'guest' });
  try {
    await runMigrations(database.directUrl, logger);
    const pool = createPool(database.url, { ...config.database.pool, max: 2 }, logger, 'telemetry-vault-cli');
    try {
      return await fn(new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool)));
    } finally {
      await pool.end();
    }
  } finally {
    await database.close();
  }
}

/** `telemetry-vault migrate` */
export async function migrateCommand(args: string[], io: CliIo, config: Config, logger: Logger): Promise<void> {
  const { values } = parse(args, {});
  const database = await openDatabase(config, logger, { role: 'guest' });
  try {
    const applied = await runMigrations(database.directUrl, logger);
    if (values.json) printJson(io, { applied });
    else io.stdout.write(applied.length === 0 ? 'The database schema is up to date.\n' : `Applied ${applied.length} migration(s): ${applied.join(', ')}\n`);
  } finally {
    await database.close();
  }
}

/** The flags of a tenant's overrides, shared by `tenant create` and `tenant update`. */
const OVERRIDE_FLAGS = {
  'calls-per-minute': { type: 'string' },
  'events-per-second': { type: 'string' },
  'event-burst': { type: 'string' },
  retention: { type: 'string' },
} as const;

/** `telemetry-vault tenant create|update|list` */
export async function tenantCommand(args: string[], io: CliIo, config: Config, logger: Logger): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values, positionals } = parse(rest, OVERRIDE_FLAGS);
    const name = single(positionals, 'tenant create NAME');
    const input = {
      name,
      callsPerMinute: optionalCount(values['calls-per-minute'], '--calls-per-minute'),
      eventsPerSecond: optionalCount(values['events-per-second'], '--events-per-second'),
      eventBurst: optionalCount(values['event-burst'], '--event-burst'),
      retentionMs: optionalRetention(values.retention) ?? undefined,
    };
    const tenant = await withDatabase(config, logger, (admin) => admin.createTenant(input));
    if (values.json) printJson(io, tenantJson(tenant));
    else io.stdout.write(`Created tenant ${tenant.name} (${tenant.id}).\nCreate a key for it with: telemetry-vault key create ${tenant.name}\n`);
    return;
  }
  if (sub === 'update') {
    const { values, positionals } = parse(rest, OVERRIDE_FLAGS);
    const name = single(positionals, 'tenant update NAME [--retention D] [--calls-per-minute N] [--events-per-second N] [--event-burst N]');
    const changes = {
      callsPerMinute: optionalCountOrDefault(values['calls-per-minute'], '--calls-per-minute'),
      eventsPerSecond: optionalCountOrDefault(values['events-per-second'], '--events-per-second'),
      eventBurst: optionalCountOrDefault(values['event-burst'], '--event-burst'),
      retentionMs: optionalRetention(values.retention),
    };
    if (Object.values(changes).every((value) => value === undefined)) {
      throw new UsageError('tenant update needs at least one of --retention, --calls-per-minute, --events-per-second, --event-burst (a value, or "default")');
    }
    const tenant = await withDatabase(config, logger, (admin) => admin.updateTenant(name, changes));
    if (values.json) printJson(io, tenantJson(tenant));
    else
      io.stdout.write(
        `Updated tenant ${tenant.name}: retention ${tenant.retentionMs === undefined ? 'default' : formatDuration(tenant.retentionMs)}, calls/min ${limit(tenant.callsPerMinute)}, events/s ${limit(tenant.eventsPerSecond)}, burst ${limit(tenant.eventBurst)}.\n` +
          'Running servers apply it within AUTH_CACHE_TTL.\n',
      );
    return;
  }
  if (sub === 'list') {
    const { values, positionals } = parse(rest, {});
    none(positionals, 'tenant list');
    const tenants = await withDatabase(config, logger, (admin) => admin.listTenants());
    if (values.json) printJson(io, tenants.map(tenantJson));
    else
      printTable(
        io,
        ['NAME', 'ID', 'CALLS/MIN', 'EVENTS/S', 'BURST', 'RETENTION', 'CREATED'],
        tenants.map((t) => [t.name, t.id, limit(t.callsPerMinute), limit(t.eventsPerSecond), limit(t.eventBurst), t.retentionMs === undefined ? 'default' : formatDuration(t.retentionMs), formatDate(t.createdAt)]),
      );
    return;
  }
  throw new UsageError(sub === undefined ? 'tenant needs a subcommand: create, update or list' : `unknown tenant subcommand: ${sub}`);
}

/** `telemetry-vault key create|list|revoke` */
export async function keyCommand(args: string[], io: CliIo, config: Config, logger: Logger): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values, positionals } = parse(rest, { 'expires-in': { type: 'string' } });
    const tenantRef = single(positionals, 'key create TENANT');
    const expiresIn = values['expires-in'];
    let expiresInMs: number | undefined;
    if (expiresIn !== undefined) {
      expiresInMs = parseDuration(expiresIn);
      if (expiresInMs === undefined || expiresInMs <= 0) throw new UsageError(`--expires-in must be a duration such as 30d, 12h or 90m (got "${expiresIn}")`);
    }
    const created = await withDatabase(config, logger, (admin) => admin.createKey(tenantRef, expiresInMs));
    if (values.json) printJson(io, { ...keyJson(created.record), tenant: created.tenant.name, key: created.key });
    else
      io.stdout.write(
        `Created API key ${created.record.id} for tenant ${created.tenant.name} (prefix ${created.record.prefix}, expires ${created.record.expiresAt?.toISOString() ?? 'never'}).\n` +
          `This is the only time the key is shown; store it now:\n\n  ${created.key}\n\n`,
      );
    return;
  }
  if (sub === 'list') {
    const { values, positionals } = parse(rest, {});
    const tenantRef = single(positionals, 'key list TENANT');
    const { tenant, keys } = await withDatabase(config, logger, (admin) => admin.listKeys(tenantRef));
    if (values.json) printJson(io, keys.map((key) => ({ ...keyJson(key), tenant: tenant.name })));
    else printTable(io, ['ID', 'PREFIX', 'STATUS', 'CREATED', 'EXPIRES', 'REVOKED'], keys.map((key) => [key.id, key.prefix, keyStatus(key), formatDate(key.createdAt), formatDate(key.expiresAt), formatDate(key.revokedAt)]));
    return;
  }
  if (sub === 'revoke') {
    const { values, positionals } = parse(rest, {});
    const keyId = single(positionals, 'key revoke KEY_ID');
    const record = await withDatabase(config, logger, (admin) => admin.revokeKey(keyId));
    if (values.json) printJson(io, keyJson(record));
    else io.stdout.write(`Revoked API key ${record.id} (prefix ${record.prefix}) at ${formatDate(record.revokedAt)}; every server stops accepting it within 5 seconds.\n`);
    return;
  }
  throw new UsageError(sub === undefined ? 'key needs a subcommand: create, list or revoke' : `unknown key subcommand: ${sub}`);
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...options, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function single(positionals: string[], usage: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(`usage: telemetry-vault ${usage}`);
  return positionals[0];
}

function none(positionals: string[], usage: string): void {
  if (positionals.length > 0) throw new UsageError(`usage: telemetry-vault ${usage} (unexpected ${positionals.join(' ')})`);
}

function optionalCount(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${flag} must be a positive whole number (got "${text}")`);
  return Number(text);
}

/** `tenant update`'s count flags: a count, or `default` (null: back to the server-wide default). */
function optionalCountOrDefault(text: string | undefined, flag: string): number | null | undefined {
  if (text === 'default') return null;
  return optionalCount(text, flag);
}

/** --retention: a duration such as 30d, or `default` (null: the server-wide RETENTION). */
function optionalRetention(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'default') return null;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw new UsageError(`--retention must be a duration of at least 1s such as 30d, 12h or 90m, or "default" (got "${text}")`);
  return ms;
}

function limit(value: number | undefined): string {
  return value === undefined ? 'default' : String(value);
}

function keyStatus(key: ApiKeyRecord, now = new Date()): string {
  if (key.revokedAt) return 'revoked';
  if (key.expiresAt && key.expiresAt <= now) return 'expired';
  return 'active';
}

function tenantJson(tenant: Tenant) {
  // Unset overrides print as null (JSON has no undefined).
  const { callsPerMinute = null, eventsPerSecond = null, eventBurst = null } = tenant;
  const retention = tenant.retentionMs === undefined ? null : formatDuration(tenant.retentionMs);
  return { id: tenant.id, name: tenant.name, callsPerMinute, eventsPerSecond, eventBurst, retention, createdAt: tenant.createdAt.toISOString() };
}

function keyJson(key: ApiKeyRecord) {
  return {
    id: key.id,
    tenantId: key.tenantId,
    prefix: key.prefix,
    status: keyStatus(key),
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}
