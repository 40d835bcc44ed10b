/** Per-tenant rate-limit overrides; undefined = the server-wide default. */
export interface RateLimitOverrides {
  readonly callsPerMinute: number | undefined;
  readonly eventsPerSecond: number | undefined;
  readonly eventBurst: number | undefined;
}

/** How long a tenant's events are kept; undefined = the server-wide RETENTION (itself unset = forever). */
export interface RetentionOverride {
  readonly retentionMs?: number | undefined;
}

/** A tenant: the owner of API keys and events. */
export interface Tenant extends RateLimitOverrides, RetentionOverride {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
}

export interface NewTenant extends RateLimitOverrides, RetentionOverride {
  readonly name: string;
}

/**
 * What `tenant update` changes: a field left out keeps its value, `null`
 * returns it to the server-wide default.
 */
export type TenantChanges = { readonly [K in keyof RateLimitOverrides | keyof RetentionOverride]?: number | null };

/** Where tenants are kept (implemented in storage/). */
export interface TenantStore {
  /** Creates a tenant; ALREADY_EXISTS when the name is taken. */
  create(tenant: NewTenant): Promise<Tenant>;
  list(): Promise<Tenant[]>;
  findByName(name: string): Promise<Tenant | undefined>;
  findById(id: string): Promise<Tenant | undefined>;
  /** Applies `changes` to the tenant with this id; undefined when there is none. */
  update(id: string, changes: TenantChanges): Promise<Tenant | undefined>;
  count(): Promise<number>;
}

/** Tenant names: 1..63 characters of [A-Za-z0-9_.-], starting with a letter or digit. */
export const TENANT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
