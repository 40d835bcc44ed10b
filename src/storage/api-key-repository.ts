import type pg from 'pg';
import type { KeyLookup, KeyMatch } from '../domain/auth/authenticator';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../domain/tenants/api-key';
import { runQuery } from './run-query';
import { tenantColumns, toTenant, type TenantRow } from './tenant-repository';

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, tenant_id, prefix, created_at, expires_at, revoked_at';

/** API keys in PostgreSQL, by hash only. */
export class ApiKeyRepository implements ApiKeyStore, KeyLookup {
  /** `observeLookup` receives the duration of each key lookup (authentication's database time), in seconds. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly observeLookup: (seconds: number) => void = () => undefined,
  ) {}

  async create(key: NewApiKey): Promise<ApiKeyRecord> {
    const result = await runQuery<ApiKeyRow>(
      this.pool,
      `INSERT INTO api_keys (tenant_id, key_hash, prefix, expires_at) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [key.tenantId, key.keyHash, key.prefix, key.expiresAt ?? null],
    );
    return toApiKey(result.rows[0]!);
  }

  async listByTenant(tenantId: string): Promise<ApiKeyRecord[]> {
    const result = await runQuery<ApiKeyRow>(this.pool, `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
    return result.rows.map(toApiKey);
  }

  async revoke(id: string, at: Date): Promise<ApiKeyRecord | undefined> {
    const result = await runQuery<ApiKeyRow>(
      this.pool,
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, at],
    );
    return result.rows[0] && toApiKey(result.rows[0]);
  }

  async findByHash(hash: Buffer): Promise<KeyMatch | undefined> {
    const started = process.hrtime.bigint();
    try {
      return await this.lookup(hash);
    } finally {
      this.observeLookup(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async lookup(hash: Buffer): Promise<KeyMatch | undefined> {
    const result = await runQuery<{ key_id: string; key_expires_at: Date | null; key_revoked_at: Date | null } & TenantRow>(
      this.pool,
      `SELECT k.id AS key_id, k.expires_at AS key_expires_at, k.revoked_at AS key_revoked_at,
              ${tenantColumns('t')}
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.key_hash = $1`,
      [hash],
    );
    const row = result.rows[0];
    if (!row) return undefined;
    return { keyId: row.key_id, tenant: toTenant(row), expiresAt: row.key_expires_at ?? undefined, revokedAt: row.key_revoked_at ?? undefined };
  }
}

function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    prefix: row.prefix,
    createdAt: row.created_at,
    expiresAt: row.expires_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
  };
}
