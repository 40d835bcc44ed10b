import type pg from 'pg';
import { VaultError } from '../domain/vault-error';
import type { NewTenant, Tenant, TenantStore } from '../domain/tenants/tenant';
import { runQuery } from './run-query';

export interface TenantRow {
  id: string;
  name: string;
  calls_per_minute: number | null;
  events_per_second: number | null;
  event_burst: number | null;
  created_at: Date;
}

const COLUMNS = 'id, name, calls_per_minute, events_per_second, event_burst, created_at';

/** Tenants in PostgreSQL. */
export class TenantRepository implements TenantStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(tenant: NewTenant): Promise<Tenant> {
    try {
      const result = await runQuery<TenantRow>(
        this.pool,
        `INSERT INTO tenants (name, calls_per_minute, events_per_second, event_burst) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
        [tenant.name, tenant.callsPerMinute ?? null, tenant.eventsPerSecond ?? null, tenant.eventBurst ?? null],
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
    createdAt: row.created_at,
  };
}
