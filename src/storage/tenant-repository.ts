import type pg from 'pg';
import { VaultError } from '../domain/vault-error';
import type { NewTenant, Tenant, TenantChanges, TenantStore } from '../domain/tenants/tenant';
import { runQuery } from './run-query';

export interface TenantRow {
  id: string;
  name: string;
  calls_per_minute: number | null;
  events_per_second: number | null;
  event_burst: number | null;
  /** tenants.retention in milliseconds (stored as an interval of seconds only). */
  retention_ms: number | null;
  created_at: Date;
}

/** The tenant columns, retention as milliseconds; `alias` qualifies them when the tenants table is joined. */
export function tenantColumns(alias = ''): string {
  const q = alias === '' ? '' : `${alias}.`;
  return `${q}id, ${q}name, ${q}calls_per_minute, ${q}events_per_second, ${q}event_burst, (extract(epoch FROM ${q}retention) * 1000)::float8 AS retention_ms, ${q}created_at`;
}

const COLUMNS = tenantColumns();

/** An interval of whole milliseconds, from a bound number (or NULL). */
const RETENTION_PARAM = (placeholder: string): string => `make_interval(secs => ${placeholder}::float8 / 1000)`;

/** The settable columns of TenantChanges. */
const CHANGE_COLUMNS: Readonly<Record<keyof TenantChanges, string>> = {
  callsPerMinute: 'calls_per_minute',
  eventsPerSecond: 'events_per_second',
  eventBurst: 'event_burst',
  retentionMs: 'retention',
};

/** Tenants in PostgreSQL. */
export class TenantRepository implements TenantStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(tenant: NewTenant): Promise<Tenant> {
    try {
      const result = await runQuery<TenantRow>(
        this.pool,
        `INSERT INTO tenants (name, calls_per_minute, events_per_second, event_burst, retention) VALUES ($1, $2, $3, $4, ${RETENTION_PARAM('$5')}) RETURNING ${COLUMNS}`,
        [tenant.name, tenant.callsPerMinute ?? null, tenant.eventsPerSecond ?? null, tenant.eventBurst ?? null, tenant.retentionMs ?? null],
      );
      return toTenant(result.rows[0]!);
    } catch (error) {
      if (error instanceof VaultError && error.code === 'ALREADY_EXISTS') {
        throw new VaultError('ALREADY_EXISTS', `a tenant named ${JSON.stringify(tenant.name)} already exists`, { cause: error.cause });
      }
      throw error;
    }
  }

  async list(): Promise<Tenant[]> {
    const result = await runQuery<TenantRow>(this.pool, `SELECT ${COLUMNS} FROM tenants ORDER BY name`, []);
    return result.rows.map(toTenant);
  }

  async findByName(name: string): Promise<Tenant | undefined> {
    const result = await runQuery<TenantRow>(this.pool, `SELECT ${COLUMNS} FROM tenants WHERE name = $1`, [name]);
    return result.rows[0] && toTenant(result.rows[0]);
  }

  async findById(id: string): Promise<Tenant | undefined> {
    const result = await runQuery<TenantRow>(this.pool, `SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [id]);
    return result.rows[0] && toTenant(result.rows[0]);
  }

  async update(id: string, changes: TenantChanges): Promise<Tenant | undefined> {
    const values: unknown[] = [id];
    const sets = (Object.keys(CHANGE_COLUMNS) as (keyof TenantChanges)[])
      .filter((field) => changes[field] !== undefined)
      .map((field) => {
        values.push(changes[field]);
        const placeholder = `$${values.length}`;
        return `${CHANGE_COLUMNS[field]} = ${field === 'retentionMs' ? RETENTION_PARAM(placeholder) : placeholder}`;
      });
    const text = sets.length === 0 ? `SELECT ${COLUMNS} FROM tenants WHERE id = $1` : `UPDATE tenants SET ${sets.join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`;
    const result = await runQuery<TenantRow>(this.pool, text, values);
    return result.rows[0] && toTenant(result.rows[0]);
  }

  async count(): Promise<number> {
    const result = await runQuery<{ count: number }>(this.pool, 'SELECT count(*) AS count FROM tenants');
    return result.rows[0]!.count;
  }
}

/** Maps a tenants row to the domain type. */
export function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    callsPerMinute: row.calls_per_minute ?? undefined,
    eventsPerSecond: row.events_per_second ?? undefined,
    eventBurst: row.event_burst ?? undefined,
    retentionMs: row.retention_ms ?? undefined,
    createdAt: row.created_at,
  };
}
