import { Gauge, type Registry } from 'prom-client';
import type pg from 'pg';
import type { Logger } from './create-logger';

/** The pools `telemetry_vault_db_pool_connections` reports: its `pool` label's values. */
export const DB_POOL_NAMES = ['primary', 'read', 'background'] as const;

/** The databases `telemetry_vault_database_up` reports: its `database` label's values. */
export const DATABASE_NAMES = ['primary', 'read'] as const;

/**
 * `telemetry_vault_db_pool_connections`: each pool's size and connections by
 * state, read from the pools at every scrape.
 */
export function registerPoolGauge(registry: Registry, pools: Readonly<Record<(typeof DB_POOL_NAMES)[number], pg.Pool>>): void {
  new Gauge({
    name: 'telemetry_vault_db_pool_connections',
    help: 'Database pool connections, by pool (primary, read, background) and state (max = the pool size, total, idle, waiting = calls queued for a connection)',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      for (const [name, pool] of Object.entries(pools)) {
        this.set({ pool: name, state: 'max' }, pool.options.max ?? 0);
        this.set({ pool: name, state: 'total' }, pool.totalCount);
        this.set({ pool: name, state: 'idle' }, pool.idleCount);
        this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
      }
    },
  });
}

/** What `telemetry_vault_db_read_share_connections` reads of the primary pool's share for reads (ReadShare). */
export interface ReadShareState {
  readonly slots: number;
  readonly inUse: number;
  readonly waitingCount: number;
}

/**
 * `telemetry_vault_db_read_share_connections`: the primary pool's share for
 * reads (DB_POOL_MAX less INGEST_WRITE_CONCURRENCY) by state: max (its size),
 * in_use (connections reads hold), waiting (reads queued for one).
 */
export function registerReadShareGauge(registry: Registry, share: ReadShareState): void {
  new Gauge({
    name: 'telemetry_vault_db_read_share_connections',
    help: 'The primary pool connections reads may hold (DB_POOL_MAX less INGEST_WRITE_CONCURRENCY), by state (max = the share, in_use = held by reads, waiting = reads queued for one)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'max' }, share.slots);
      this.set({ state: 'in_use' }, share.inUse);
      this.set({ state: 'waiting' }, share.waitingCount);
    },
  });
}

/** `telemetry_vault_database_up`: 1 while a database answers its health probe, by database (primary, read). */
export function registerDatabaseUpGauge(registry: Registry, reachable: Readonly<Record<(typeof DATABASE_NAMES)[number], () => boolean>>): void {
  new Gauge({
    name: 'telemetry_vault_database_up',
    help: '1 while the database answers the health probe, else 0, by database (primary, read)',
    labelNames: ['database'],
    registers: [registry],
    collect() {
      for (const [name, up] of Object.entries(reachable)) this.set({ database: name }, up() ? 1 : 0);
    },
  });
}

/**
 * `telemetry_vault_active_tenants`: tenants with events stored in the last 24
 * hours, cluster-wide, counted by the database at scrape time (`count`
 * caches it, and answers undefined while the database is known to be down).
 * Without a count the gauge keeps its last value; a failed count is logged.
 */
export function registerActiveTenantsGauge(registry: Registry, count: () => Promise<number | undefined>, logger: Logger): void {
  new Gauge({
    name: 'telemetry_vault_active_tenants',
    help: 'Tenants that ingested events in the last 24 hours (cluster-wide)',
    registers: [registry],
    async collect() {
      try {
        const active = await count();
        if (active !== undefined) this.set(active);
      } catch (error) {
        logger.warn({ err: error }, 'counting active tenants failed');
      }
    },
  });
}

/** `telemetry_vault_receive_budget_held_bytes`: the request bytes held of GRPC_RECEIVE_BUDGET (ReceiveBudget) at scrape time. */
export function registerReceiveBudgetGauge(registry: Registry, heldBytes: () => number): void {
  registerHeldBytesGauge(registry, 'telemetry_vault_receive_budget_held_bytes', 'Request bytes held while gRPC messages and OTLP/HTTP bodies are received and decoded, of GRPC_RECEIVE_BUDGET', heldBytes);
}

/** `telemetry_vault_response_budget_held_bytes`: the response bytes held for clients of GRPC_RESPONSE_BUDGET (ResponseBudget) at scrape time. */
export function registerResponseBudgetGauge(registry: Registry, heldBytes: () => number): void {
  registerHeldBytesGauge(registry, 'telemetry_vault_response_budget_held_bytes', 'Response bytes held for gRPC clients that have not taken them yet, of GRPC_RESPONSE_BUDGET', heldBytes);
}

function registerHeldBytesGauge(registry: Registry, name: string, help: string, heldBytes: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(heldBytes());
    },
  });
}
