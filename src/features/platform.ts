import type pg from 'pg';
import type { Config } from '../config/load-config';
import { AuthFailureLimiter } from '../domain/auth/auth-failure-limiter';
import { Authenticator } from '../domain/auth/authenticator';
import { CallAuthentication } from '../domain/auth/call-authentication';
import { FailoverTokenBucketStore } from '../domain/rate-limit/failover-token-bucket-store';
import { MemoryTokenBucketStore } from '../domain/rate-limit/memory-token-bucket-store';
import { RateLimiter } from '../domain/rate-limit/rate-limiter';
import type { TokenBucketStore } from '../domain/rate-limit/token-bucket-store';
import { registerDatabaseUpGauge, registerPoolGauge, registerReadShareGauge, registerReceiveBudgetGauge, registerResponseBudgetGauge } from '../observability/collected-gauges';
import type { Logger } from '../observability/create-logger';
import { createMetrics, type Metrics } from '../observability/create-metrics';
import { authMetricsObserver, rateLimitMetricsObserver } from '../observability/metrics-observers';
import { ApiKeyRepository } from '../storage/api-key-repository';
import { createPool } from '../storage/create-pool';
import { ReadShare } from '../storage/read-share';
import { DatabaseProbe } from '../storage/database-probe';
import type { Database } from '../storage/open-database';
import { RedisTokenBucketStore } from '../storage/redis-token-bucket-store';
import { SentMessages } from '../transport/grpc/calls/budget-sent-messages';
import { CallPipeline } from '../transport/grpc/calls/call-pipeline';
import { CallScopes } from '../transport/grpc/calls/call-scopes';
import { ConnectionLimit } from '../transport/connection-limit';
import { ReceiveBudget } from '../transport/receive-budget';
import { ResponseBudget } from '../transport/response-budget';
import type { Closers } from './closers';
import { createEventIngestor } from './event-ingestion';
import type { EventIngestor } from '../domain/ingest/event-ingestor';
import { RetentionPolicy } from '../domain/retention/retention-policy';

/** What every feature builds on: the database, metrics, authentication, rate limits and the call machinery. */
export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: Database;
  /** The primary's pool (writes, key lookups, and reads without a replica): the connections calls wait for. */
  readonly pool: pg.Pool;
  /**
   * The primary's pool of the background rounds (the data lifecycle, rollup
   * compaction), BACKGROUND_POOL_MAX connections of its own: a round waiting
   * on a lock never holds a connection that a call waits for.
   */
  readonly backgroundPool: pg.Pool;
  /** The pool reads use: the replica's (DATABASE_READ_URL), or the primary's. */
  readonly readPool: pg.Pool;
  /**
   * Where reads get connections of the primary (all of them without a
   * replica; a follow's stored part, and every read while the replica is
   * down, with one): at most DB_POOL_MAX less INGEST_WRITE_CONCURRENCY at
   * once, so that reads never hold the connections ingest writes through.
   */
  readonly primaryReads: ReadShare;
  /** Whether each database answers its health probe. */
  readonly probes: Readonly<Record<'primary' | 'read', DatabaseProbe>>;
  readonly metrics: Metrics;
  readonly apiKeys: ApiKeyRepository;
  readonly authentication: CallAuthentication;
  readonly limiter: RateLimiter;
  /** Where every feature that takes events hands them: one validator, one group-commit writer. */
  readonly ingestor: EventIngestor;
  readonly scopes: CallScopes;
  readonly pipeline: CallPipeline;
  /** GRPC_RECEIVE_BUDGET: the request bytes gRPC calls and OTLP/HTTP requests hold while they are received, together. */
  readonly receiveBudget: ReceiveBudget;
  /** GRPC_RESPONSE_BUDGET: the response bytes gRPC calls hold for clients that have not taken them, together (the pipeline's, too). */
  readonly sentMessages: SentMessages;
  /** GRPC_MAX_CONNECTIONS, for every client port (gRPC and OTLP/HTTP). */
  readonly connectionLimit: ConnectionLimit;
  /** RETENTION and the tenants' own: the one retention cutoff of ingest, queries and the retention work. */
  readonly retention: RetentionPolicy;
  /** Where features register what they must release at shutdown. */
  readonly closers: Closers;
}

/**
 * Connections of the background pool: one for each background job that may
 * run at once (a data lifecycle round, a compaction round). Not a setting:
 * neither job ever holds more than one connection.
 */
export const BACKGROUND_POOL_MAX = 2;

/** Opens the pools, probes and rate-limit stores, and builds the shared services over them. */
export async function createPlatform(config: Config, logger: Logger, database: Database, closers: Closers): Promise<Platform> {
  const pool = closers.add(createPool(database.url, config.database.pool, logger), (opened) => opened.end());
  const backgroundPool = closers.add(createPool(database.url, { ...config.database.pool, max: BACKGROUND_POOL_MAX }, logger, 'telemetry-vault-background'), (opened) => opened.end());
  const readPool = database.readUrl === database.url ? pool : closers.add(createPool(database.readUrl, config.database.readPool, logger, 'telemetry-vault-read'), (opened) => opened.end());
  const metrics = createMetrics(config.metrics);
  registerPoolGauge(metrics.registry, { primary: pool, read: readPool, background: backgroundPool });
  const primaryReads = new ReadShare(pool, {
    slots: Math.max(1, config.database.pool.max - config.ingestWrite.concurrency),
    waitMs: config.database.pool.connectionTimeoutMs,
    maxWaiting: config.database.pool.maxWaiting,
  });
  registerReadShareGauge(metrics.registry, primaryReads);
  const probes = await startProbes(config, logger, database, closers);
  registerDatabaseUpGauge(metrics.registry, { primary: () => probes.primary.reachable, read: () => probes.read.reachable });

  const stores = closers.add(await createRateLimitStores(config, logger, metrics), (opened) => opened.close());
  const apiKeys = new ApiKeyRepository(pool, (seconds) => metrics.dbQuerySeconds.observe({ operation: 'auth_lookup' }, seconds));
  const authObserver = authMetricsObserver(metrics);
  const authentication = new CallAuthentication(
    new Authenticator(apiKeys, config.auth),
    new AuthFailureLimiter(stores.addresses, config.auth.failureLimit, authObserver.throttled),
    authObserver,
  );
  const limiter = new RateLimiter(stores.tenants, config.rateLimit, rateLimitMetricsObserver(metrics));
  const scopes = new CallScopes(logger);
  const retention = new RetentionPolicy(config.lifecycle.retentionMs);
  const ingestor = createEventIngestor(config, logger, pool, metrics, limiter, probes.primary, retention);
  const receiveBudget = new ReceiveBudget(config.grpc.receiveBudgetBytes, config.grpc.maxReceiveMessageBytes);
  registerReceiveBudgetGauge(metrics.registry, () => receiveBudget.heldBytes());
  const responseBudget = new ResponseBudget(config.grpc.responseBudgetBytes);
  registerResponseBudgetGauge(metrics.registry, () => responseBudget.heldBytes);
  const sentMessages = new SentMessages(responseBudget, logger);
  return { config, logger, database, pool, backgroundPool, readPool, primaryReads, probes, metrics, apiKeys, authentication, limiter, ingestor, scopes, pipeline: new CallPipeline(scopes, sentMessages), receiveBudget, sentMessages, connectionLimit: new ConnectionLimit(config.grpc.maxConnections, logger), retention, closers };
}

/** One probe per database (one when reads go to the primary), probed once before start-up goes on. */
async function startProbes(config: Config, logger: Logger, database: Database, closers: Closers): Promise<Platform['probes']> {
  const start = async (url: string, name: string): Promise<DatabaseProbe> => {
    const probe = closers.add(new DatabaseProbe(url, config.healthCheckIntervalMs, logger.child({ probe: name })), (started) => started.stop());
    await probe.start();
    return probe;
  };
  const primary = await start(database.url, 'primary');
  return { primary, read: database.readUrl === database.url ? primary : await start(database.readUrl, 'read') };
}

/** Where the token buckets live: tenants' rate limits, and client addresses' failed authentications. */
interface RateLimitStores {
  readonly tenants: TokenBucketStore;
  readonly addresses: TokenBucketStore;
  close(): Promise<void>;
}

/**
 * Process memory without REDIS_URL; with it, Redis shared by every instance,
 * failing open to process memory while Redis is unavailable (see
 * FailoverTokenBucketStore). Start-up waits briefly for Redis
 * (RATE_LIMIT_REDIS_CONNECT_TIMEOUT) but never fails for it. Addresses' buckets
 * have process memory of their own, capped (clients choose their addresses,
 * not their tenants).
 */
async function createRateLimitStores(config: Config, logger: Logger, metrics: Metrics): Promise<RateLimitStores> {
  const local = new MemoryTokenBucketStore({ sweepIntervalMs: config.rateLimit.memorySweepIntervalMs });
  const addressesLocal = new MemoryTokenBucketStore({ maxEntries: config.auth.failureLimit.maxAddresses, sweepIntervalMs: config.rateLimit.memorySweepIntervalMs });
  const stores = (tenants: TokenBucketStore, addresses: TokenBucketStore): RateLimitStores => ({
    tenants,
    addresses,
    close: async () => {
      await Promise.all([tenants.close(), addresses.close()]);
    },
  });
  if (config.redisUrl === undefined) return stores(local, addressesLocal);
  const { redisTimeoutMs, redisRetryIntervalMs, redisConnectTimeoutMs } = config.rateLimit;
  const redis = new RedisTokenBucketStore(config.redisUrl, { commandTimeoutMs: redisTimeoutMs, connectTimeoutMs: redisConnectTimeoutMs, logger });
  metrics.rateLimitDegraded.set(0);
  const connected = await redis.waitUntilConnected(redisConnectTimeoutMs);
  if (!connected) logger.warn('REDIS_URL is set but Redis does not answer yet: rate limits are per instance until it does');
  const tenants = new FailoverTokenBucketStore(redis, local, {
    initiallyDegraded: !connected,
    timeoutMs: redisTimeoutMs,
    retryIntervalMs: redisRetryIntervalMs,
    logger,
    onDegradedChange: (degraded) => metrics.rateLimitDegraded.set(degraded ? 1 : 0),
    onLocalTake: () => metrics.rateLimitLocalTakes.inc(),
  });
  return stores(tenants, tenants.alongside(addressesLocal));
}
