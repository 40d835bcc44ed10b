import type pg from 'pg';
import { runQuery } from './run-query';

/** The name of the cursor signing key in vault_secrets (made by migration 0002). */
export const CURSOR_SIGNING_KEY = 'cursor-signing-key';

/** Deployment-wide secrets kept in the database, shared by every instance that uses it. */
export class VaultSecretRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The secret named `name`; throws when the migrations did not make it (a schema out of date is a bug). */
  async get(name: string): Promise<Buffer> {
    const result = await runQuery<{ value: Buffer }>(this.pool, 'SELECT value FROM vault_secrets WHERE name = $1', [name]);
    const row = result.rows[0];
    if (!row) throw new Error(`the database has no secret named ${name}: are the migrations applied?`);
    return row.value;
  }
}
