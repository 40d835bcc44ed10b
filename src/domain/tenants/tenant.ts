/** Per-tenant rate-limit overrides; undefined = the server-wide default. */
export interface RateLimitOverrides {
  readonly callsPerMinute: number | undefined;
  readonly eventsPerSecond: number | undefined;
  readonly eventBurst: number | undefined;
}

/** A tenant: the owner of API keys and events. */
export interface Tenant extends RateLimitOverrides {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
}

export interface NewTenant extends RateLimitOverrides {
  readonly name: string;
}

/** Where tenants are kept (implemented in storage/). */
export interface TenantStore {
  /** Creates a tenant; ALREADY_EXISTS when the name is taken. */
  create(tenant: NewTenant): Promise<Tenant>;
  list(): Promise<Tenant[]>;
  findByName(name: string): Promise<Tenant | undefined>;
  findById(id: string): Promise<Tenant | undefined>;
  count(): Promise<number>;
}

/** Tenant names: 1..63 characters of [A-Za-z0-9_.-], starting with a letter or digit. */
export const TENANT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
