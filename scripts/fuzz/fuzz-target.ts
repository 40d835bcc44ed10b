import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../../src/config/load-config';
import { AdminService } from '../../src/domain/tenants/admin-service';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { TenantRepository } from '../../src/storage/tenant-repository';
import { createRequestDecoders } from '../../src/transport/grpc/wire/request-decoders';
import type { CaseContext, FuzzLimits, TenantRole } from './fuzz-case';
import type { FuzzClient } from './fuzz-client';
import type { FuzzTarget } from './run-fuzz-cases';

/**
 * The fuzz tenant's limits: high enough that rate limits never answer for the
 * input (a message of 100 000 events must pass), so that what is checked is
 * how bad input is handled.
 */
const FUZZ_TENANT_LIMITS = { callsPerMinute: 10_000_000, eventsPerSecond: 10_000_000, eventBurst: 200_000 };

/** The limits the cases aim at, as the server under test is configured. */
export function fuzzLimits(config: Config): FuzzLimits {
  return {
    maxMessageBytes: config.grpc.maxReceiveMessageBytes,
    maxPayloadBytes: config.ingest.maxPayloadBytes,
    maxPayloadDepth: config.ingest.maxPayloadDepth,
    maxFutureSkewMs: config.ingest.maxFutureSkewMs,
    payloadContainsMaxBytes: config.query.payloadContainsMaxBytes,
    payloadContainsMaxDepth: config.query.payloadContainsMaxDepth,
    filterMaxValues: config.query.filterMaxValues,
    maxLimit: config.query.maxLimit,
    maxPage: config.query.maxPage,
    defaultEventBurst: config.rateLimit.eventBurst,
  };
}

/** A case context for one round: event ids start with a prefix of the run and round. */
export function caseContext(config: Config, runId: string, round: number): CaseContext {
  return { idPrefix: `${runId}-${round}`, nowSeconds: Math.floor(Date.now() / 1000), limits: fuzzLimits(config) };
}

/** A short random run id, so that the ids of 100 000 events stay short. */
export function newRunId(): string {
  return `fz${randomBytes(3).toString('hex')}`;
}

/**
 * Creates the tenants (see TenantRole) and wires the target: the client, the server's
 * decoders, and the events table read through `pool`.
 */
export async function createFuzzTarget(pool: pg.Pool, client: FuzzClient, config: Config, runId: string): Promise<FuzzTarget> {
  const admin = new AdminService(new TenantRepository(pool), new ApiKeyRepository(pool));
  const tenant = async (name: string, limits: Partial<typeof FUZZ_TENANT_LIMITS>): Promise<{ key: string; tenantId: string }> => {
    const created = await admin.createTenant({ name, callsPerMinute: limits.callsPerMinute, eventsPerSecond: limits.eventsPerSecond, eventBurst: limits.eventBurst });
    return { key: (await admin.createKey(created.id)).key, tenantId: created.id };
  };
  const tenants: Record<TenantRole, { key: string; tenantId: string }> = {
    fuzz: await tenant(`${runId}-fuzz`, FUZZ_TENANT_LIMITS),
    bulk: await tenant(`${runId}-bulk`, FUZZ_TENANT_LIMITS),
    defaults: await tenant(`${runId}-defaults`, {}),
  };
  return {
    client,
    tenants,
    decoders: createRequestDecoders(config),
    rejectedEventsListed: config.ingest.rejectedEventsListed,
    storedIds: async (tenantId, eventIds) => {
      if (eventIds.length === 0) return new Set();
      const result = await pool.query<{ event_id: string }>('SELECT event_id FROM events WHERE tenant_id = $1 AND event_id = ANY($2::text[])', [tenantId, eventIds]);
      return new Set(result.rows.map((row) => row.event_id));
    },
  };
}
