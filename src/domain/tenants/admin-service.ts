import { MAX_RETENTION_MS } from '../retention/retention-policy';
import { VaultError, invalidArgument } from '../vault-error';
import { generateApiKey, type ApiKeyRecord, type ApiKeyStore } from './api-key';
import { TENANT_NAME_PATTERN, type NewTenant, type Tenant, type TenantChanges, type TenantStore } from './tenant';

/** The tenant created on first run of the embedded database. */
export const DEMO_TENANT_NAME = 'demo';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Rate limits are stored as PostgreSQL integers. */
const MAX_LIMIT = 2_147_483_647;

/** A key just created, with the secret that is shown this once. */
export interface CreatedApiKey {
  readonly key: string;
  readonly record: ApiKeyRecord;
  readonly tenant: Tenant;
}

/** Tenant and API key administration: what the CLI does. */
export class AdminService {
  constructor(
    private readonly tenants: TenantStore,
    private readonly keys: ApiKeyStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async createTenant(input: NewTenant): Promise<Tenant> {
    if (!TENANT_NAME_PATTERN.test(input.name)) {
      throw invalidArgument('name', 'must be 1..63 characters of [A-Za-z0-9_.-], starting with a letter or digit');
    }
    checkLimit('calls-per-minute', input.callsPerMinute);
    checkLimit('events-per-second', input.eventsPerSecond);
    checkLimit('event-burst', input.eventBurst);
    checkRetention(input.retentionMs);
    return this.tenants.create(input);
  }

  /**
   * Changes the overrides of the tenant named (or with the id) `tenantRef`:
   * a field left out keeps its value, `null` returns it to the server-wide
   * default. Running servers apply it within AUTH_CACHE_TTL (the tenant
   * travels with its cached key lookups).
   */
  async updateTenant(tenantRef: string, changes: TenantChanges): Promise<Tenant> {
    const tenant = await this.resolveTenant(tenantRef);
    checkLimit('calls-per-minute', changes.callsPerMinute ?? undefined);
    checkLimit('events-per-second', changes.eventsPerSecond ?? undefined);
    checkLimit('event-burst', changes.eventBurst ?? undefined);
    checkRetention(changes.retentionMs ?? undefined);
    const updated = await this.tenants.update(tenant.id, changes);
    if (!updated) throw new VaultError('NOT_FOUND', `no tenant named ${JSON.stringify(tenantRef)}`);
    return updated;
  }

  listTenants(): Promise<Tenant[]> {
    return this.tenants.list();
  }

  /** Creates a key for the tenant named (or with the id) `tenantRef`, valid for `expiresInMs` when given. */
  async createKey(tenantRef: string, expiresInMs?: number): Promise<CreatedApiKey> {
    const tenant = await this.resolveTenant(tenantRef);
    if (expiresInMs !== undefined && (!Number.isFinite(expiresInMs) || expiresInMs <= 0)) {
      throw invalidArgument('expires-in', 'must be a positive duration such as 30d, 12h or 90m');
    }
    const generated = generateApiKey();
    const record = await this.keys.create({
      tenantId: tenant.id,
      keyHash: generated.hash,
      prefix: generated.prefix,
      expiresAt: expiresInMs === undefined ? undefined : new Date(this.now().getTime() + expiresInMs),
    });
    return { key: generated.key, record, tenant };
  }

  async listKeys(tenantRef: string): Promise<{ tenant: Tenant; keys: ApiKeyRecord[] }> {
    const tenant = await this.resolveTenant(tenantRef);
    return { tenant, keys: await this.keys.listByTenant(tenant.id) };
  }

  async revokeKey(keyId: string): Promise<ApiKeyRecord> {
    if (!UUID_PATTERN.test(keyId)) throw invalidArgument('key-id', 'must be a key id as printed by `key list`');
    const record = await this.keys.revoke(keyId, this.now());
    if (!record) throw new VaultError('NOT_FOUND', `no API key with id ${keyId}`);
    return record;
  }

  /**
   * Creates the `demo` tenant and a key for it when no tenant exists yet
   * (first run). Returns undefined when there already are tenants.
   */
  async ensureDemoTenant(): Promise<CreatedApiKey | undefined> {
    if ((await this.tenants.count()) > 0) return undefined;
    try {
      await this.tenants.create({ name: DEMO_TENANT_NAME, callsPerMinute: undefined, eventsPerSecond: undefined, eventBurst: undefined });
    } catch (error) {
      // Another instance created it at the same moment: it owns the first-run key.
      if (error instanceof VaultError && error.code === 'ALREADY_EXISTS') return undefined;
      throw error;
    }
    return this.createKey(DEMO_TENANT_NAME);
  }

  private async resolveTenant(ref: string): Promise<Tenant> {
    const tenant = UUID_PATTERN.test(ref) ? await this.tenants.findById(ref) : await this.tenants.findByName(ref);
    if (!tenant) throw new VaultError('NOT_FOUND', `no tenant named ${JSON.stringify(ref)}`);
    return tenant;
  }
}

function checkRetention(value: number | undefined): void {
  if (value !== undefined && (!Number.isFinite(value) || value < 1000 || value > MAX_RETENTION_MS)) {
    throw invalidArgument('retention', 'must be a duration between 1s and 36600d, such as 30d or 12h');
  }
}

function checkLimit(field: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > MAX_LIMIT)) {
    throw invalidArgument(field, `must be a whole number between 1 and ${MAX_LIMIT}`);
  }
}
