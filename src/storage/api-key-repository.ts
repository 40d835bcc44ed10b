import type pg from 'pg';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../domain/tenants/api-key';
import { runQuery } from './run-query';

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
export class ApiKeyRepository implements ApiKeyStore {
  constructor(private readonly pool: pg.Pool) {}

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
