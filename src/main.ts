import { status as grpcStatus, type Server } from '@grpc/grpc-js';
import type pg from 'pg';
import type { Config } from './config/load-config';
import { AUTH_FAILURE_LIMIT_REASON, AuthFailureLimiter } from './domain/auth/auth-failure-limiter';
import { Authenticator } from './domain/auth/authenticator';
import { CursorCodec } from './domain/query/cursor-codec';
import { QueryService } from './domain/query/query-service';
import type { CallContext } from './domain/call-context';
import { VaultError } from './domain/vault-error';
import { EventIngestor } from './domain/ingest/event-ingestor';
import { EventValidator } from './domain/ingest/event-validator';
import { FailoverTokenBucketStore } from './domain/rate-limit/failover-token-bucket-store';
import { MemoryTokenBucketStore } from './domain/rate-limit/memory-token-bucket-store';
import { RateLimiter, rateLimitReason } from './domain/rate-limit/rate-limiter';
import type { TokenBucketStore } from './domain/rate-limit/token-bucket-store';
import { AdminService, type CreatedApiKey } from './domain/tenants/admin-service';
import type { Logger } from './observability/create-logger';
import { createMetrics, type Metrics } from './observability/create-metrics';
import { ingestMetricsObserver } from './observability/ingest-metrics-observer';
import { createQueryMetrics } from './observability/create-query-metrics';
import { ApiKeyRepository } from './storage/api-key-repository';
import { createPool } from './storage/create-pool';
import { DatabaseProbe } from './storage/database-probe';
import { EventQueryRepository } from './storage/event-query-repository';
import { EventWriter } from './storage/event-writer';
import { DATABASE_RETRY_AFTER_MS } from './storage/map-pg-error';
import { openDatabase, type Database } from './storage/open-database';
import { runMigrations } from './storage/run-migrations';
import { RedisTokenBucketStore } from './storage/redis-token-bucket-store';
import { TenantActivity } from './storage/tenant-activity';
import { TenantRepository } from './storage/tenant-repository';
import { CURSOR_SIGNING_KEY, VaultSecretRepository } from './storage/vault-secret-repository';
import { AdmissionChain } from './transport/grpc/admission-chain';
import { ApiKeyAdmission } from './transport/grpc/api-key-admission';
import { CallPipeline, type CallOutcome } from './transport/grpc/call-pipeline';
import { HealthStatusService, ServingStatus } from './transport/grpc/health-service';
import { createIngestHandlers, INGEST_SERVICE_NAME, ingestServiceDefinition } from './transport/grpc/ingest-handlers';
import { createQueryHandlers, QUERY_SERVICE_NAME, queryServiceDefinition } from './transport/grpc/query-handlers';
import { RateLimitAdmission } from './transport/grpc/rate-limit-admission';
import { createRequestDecoders } from './transport/grpc/request-decoders';
import { startGrpcServer } from './transport/grpc/start-grpc-server';
import { startHttpServer, type StartedHttpServer } from './transport/http/start-http-server';

/** A running Telemetry Vault. */
export interface Vault {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly database: Database;
  readonly metrics: Metrics;
  /** The pool of the primary (writes). */
  readonly pool: pg.Pool;
  /** The pool QueryService reads from (the replica's, or the primary's). */
  readonly readPool: pg.Pool;
  /** The demo tenant's key, when this start created it (first run on the embedded database). */
  readonly firstRunKey: CreatedApiKey | undefined;
  /**
   * Drains and stops: reports NOT_SERVING, refuses new calls, lets in-flight
   * calls finish within the grace period, then closes everything. Idempotent.
   */
  shutdown(): Promise<void>;
}

const HEALTH_SERVICES = ['', INGEST_SERVICE_NAME, QUERY_SERVICE_NAME];

/** The composition root: config -> database -> pools -> services -> servers. */
export async function startVault(config: Config, logger: Logger): Promise<Vault> {
  const database = await openDatabase(config, logger, { role: 'owner' });
  const cleanup: (() => Promise<void>)[] = [() => database.close()];
  const closeAll = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => logger.error({ err: error }, 'shutdown step failed'));
    cleanup.length = 0;
  };
  try {
    await runMigrations(database.url, logger);
    const pool = createPool(database.url, config.database.pool, logger);
    cleanup.push(() => pool.end());
    const readPool = database.readUrl === database.url ? pool : createPool(database.readUrl, config.database.readPool, logger, 'telemetry-vault-read');
    if (readPool !== pool) cleanup.push(() => readPool.end());

    const apiKeys = new ApiKeyRepository(pool);
    const admin = new AdminService(new TenantRepository(pool), apiKeys);
    const firstRunKey = database.embedded ? await admin.ensureDemoTenant() : undefined;

    const metrics = createMetrics(config.metrics);
    const authenticator = new Authenticator(
      {
        findByHash: async (hash) => {
          const started = process.hrtime.bigint();
          try {
            return await apiKeys.findByHash(hash);
          } finally {
            metrics.dbQuerySeconds.observe({ operation: 'auth_lookup' }, Number(process.hrtime.bigint() - started) / 1e9);
          }
        },
      },
      config.auth,
    );
    // Cursors must verify on every instance: the key is configured, or the one
    // the migrations stored in the (shared) primary database.
    const cursorKey = config.query.cursorSecret !== undefined ? Buffer.from(config.query.cursorSecret, 'utf8') : await new VaultSecretRepository(pool).get(CURSOR_SIGNING_KEY);
    // QueryService reads only from the read pool (the replica's when DATABASE_READ_URL is set).
    const queries = new QueryService(new EventQueryRepository(readPool, config.query.statementTimeoutMs, (operation, seconds) => metrics.dbQuerySeconds.observe({ operation }, seconds)), new CursorCodec(cursorKey), config.query, createQueryMetrics(metrics.registry).streamObserver);
    const health = new HealthStatusService(HEALTH_SERVICES);
    const activity = new TenantActivity(pool, logger, { touchIntervalMs: 60_000, countCacheMs: 15_000 });
    const rateLimitStores = await createRateLimitStores(config, logger, metrics);
    cleanup.push(() => rateLimitStores.close());
    const limiter = new RateLimiter(rateLimitStores.tenants, config.rateLimit);
    const ingestor = new EventIngestor({
      sink: new EventWriter(pool, { statementTimeoutMs: config.ingest.statementTimeoutMs, cancelTimeoutMs: config.database.pool.connectionTimeoutMs }),
      validator: new EventValidator(config.ingest),
      limiter,
      settings: config.ingest,
      streamMaxWaitMs: config.rateLimit.streamMaxWaitMs,
      observer: ingestMetricsObserver(metrics, (tenant) => activity.seen(tenant.id)),
    });
    const authentication = new ApiKeyAdmission(authenticator, {
      failures: new AuthFailureLimiter(rateLimitStores.addresses, config.auth.failureLimit),
      peerHeader: config.auth.failureLimit.peerHeader,
    });
    const onFinish = (ctx: CallContext, outcome: CallOutcome): void => {
      const [service = '', method = ''] = ctx.method.split('/');
      const labels = { grpc_service: service, grpc_method: method, grpc_code: grpcStatus[outcome.code] };
      metrics.grpcHandled.inc(labels);
      metrics.grpcHandlingSeconds.observe(labels, outcome.durationSeconds);
      if (outcome.code === grpcStatus.UNAUTHENTICATED) metrics.authFailures.inc({ outcome: 'unauthenticated' });
      if (outcome.reason === AUTH_FAILURE_LIMIT_REASON) metrics.authFailures.inc({ outcome: 'throttled' });
      if (outcome.reason === rateLimitReason('calls')) metrics.rateLimitRejections.inc({ bucket: 'calls', grpc_service: service });
      if (outcome.reason === rateLimitReason('events')) metrics.rateLimitRejections.inc({ bucket: 'events', grpc_service: service });
    };
    // Both services authenticate and take a calls token; their x-ratelimit-*
    // metadata describes the events bucket (ingest) or the calls bucket (query).
    const ingestPipeline = new CallPipeline({ logger, admission: new AdmissionChain(authentication, new RateLimitAdmission(limiter, 'events')), onFinish });
    const queryPipeline = new CallPipeline({ logger, admission: new AdmissionChain(authentication, new RateLimitAdmission(limiter, 'calls')), onFinish });
    const decoders = createRequestDecoders({ maxPayloadDepth: config.ingest.maxPayloadDepth, payloadContainsMaxDepth: config.query.payloadContainsMaxDepth });
    const grpc = await startGrpcServer(config.grpc, {
      health,
      services: [
        { definition: ingestServiceDefinition(decoders), implementation: createIngestHandlers(ingestPipeline, ingestor, config.ingest) },
        { definition: queryServiceDefinition(decoders), implementation: createQueryHandlers(queryPipeline, queries) },
      ],
    });
    cleanup.push(() => forceShutdown(grpc.server));

    let shuttingDown = false;
    const primaryProbe = new DatabaseProbe(database.url, config.healthCheckIntervalMs, logger.child({ probe: 'primary' }));
    const readProbe = database.readUrl === database.url ? primaryProbe : new DatabaseProbe(database.readUrl, config.healthCheckIntervalMs, logger.child({ probe: 'read' }));
    const updateHealth = (): void => {
      const status = (up: boolean): ServingStatus => (up && !shuttingDown ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      health.set(INGEST_SERVICE_NAME, status(primaryProbe.reachable));
      health.set(QUERY_SERVICE_NAME, status(readProbe.reachable));
      health.set('', status(primaryProbe.reachable && readProbe.reachable));
    };
    for (const probe of new Set([primaryProbe, readProbe])) {
      probe.onChange(updateHealth);
      await probe.start();
      cleanup.push(() => probe.stop());
    }
    updateHealth();

    const http: StartedHttpServer = await startHttpServer(config.http, {
      registry: metrics.registry,
      beforeScrape: async () => {
        for (const [name, gaugePool] of [['primary', pool], ['read', readPool]] as const) {
          metrics.dbPoolConnections.set({ pool: name, state: 'max' }, gaugePool.options.max);
          metrics.dbPoolConnections.set({ pool: name, state: 'total' }, gaugePool.totalCount);
          metrics.dbPoolConnections.set({ pool: name, state: 'idle' }, gaugePool.idleCount);
          metrics.dbPoolConnections.set({ pool: name, state: 'waiting' }, gaugePool.waitingCount);
        }
        metrics.databaseUp.set({ database: 'primary' }, primaryProbe.reachable ? 1 : 0);
        if (primaryProbe.reachable) {
          await activity.activeLast24h().then(
            (active) => metrics.activeTenants.set(active),
            (error: unknown) => logger.warn({ err: error }, 'counting active tenants failed'),
          );
        }
        metrics.databaseUp.set({ database: 'read' }, readProbe.reachable ? 1 : 0);
      },
      logger,
      readiness: () => {
        const checks = { database: primaryProbe.reachable, readDatabase: readProbe.reachable, acceptingCalls: !shuttingDown };
        return { ready: Object.values(checks).every(Boolean), checks };
      },
    });
    cleanup.push(() => http.close());
    logger.info({ grpcPort: grpc.port, httpPort: http.port, embeddedDatabase: database.embedded !== undefined }, 'telemetry vault serving');

    let stopping: Promise<void> | undefined;
    const shutdown = (): Promise<void> => {
      stopping ??= (async () => {
        shuttingDown = true;
        updateHealth();
        health.endWatches();
        logger.info({ gracePeriodMs: config.shutdownGraceMs }, 'shutting down: refusing new calls, draining in-flight ones');
        await drain(grpc.server, { graceMs: config.shutdownGraceMs, settleMs: config.database.pool.connectionTimeoutMs, pipelines: [ingestPipeline, queryPipeline] }, logger);
        await closeAll();
        logger.info('shutdown complete');
      })();
      return stopping;
    };
    return { grpcPort: grpc.port, httpPort: http.port, database, metrics, pool, readPool, firstRunKey, shutdown };
  } catch (error) {
    await closeAll();
    throw error;
  }
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
 * FailoverTokenBucketStore). Start-up waits briefly for Redis but never
 * fails for it. Addresses' buckets have process memory of their own, capped
 * (clients choose their addresses, not their tenants).
 */
async function createRateLimitStores(config: Config, logger: Logger, metrics: Metrics): Promise<RateLimitStores> {
  const local = new MemoryTokenBucketStore();
  const addressesLocal = new MemoryTokenBucketStore({ maxEntries: config.auth.failureLimit.maxAddresses });
  const stores = (tenants: TokenBucketStore, addresses: TokenBucketStore): RateLimitStores => ({
    tenants,
    addresses,
    close: async () => {
      await Promise.all([tenants.close(), addresses.close()]);
    },
  });
  if (config.redisUrl === undefined) return stores(local, addressesLocal);
  const { redisTimeoutMs, redisRetryIntervalMs } = config.rateLimit;
  const redis = new RedisTokenBucketStore(config.redisUrl, { commandTimeoutMs: redisTimeoutMs, logger });
  metrics.rateLimitDegraded.set(0);
  const connected = await redis.waitUntilConnected(Math.max(1000, redisTimeoutMs));
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

interface DrainOptions {
  /** SHUTDOWN_GRACE_PERIOD: how long in-flight calls may run on. */
  readonly graceMs: number;
  /**
   * After the grace period, how long the failed calls may take to answer:
   * their longest step is cancelling a running statement, whose connection
   * wait is DB_POOL_CONNECTION_TIMEOUT.
   */
  readonly settleMs: number;
  readonly pipelines: readonly CallPipeline[];
}

/**
 * tryShutdown refuses new calls and waits for in-flight ones. Past the grace
 * period, the calls still in flight are failed with UNAVAILABLE and RetryInfo
 * (their uncommitted batches rolled back), so that clients retry them
 * elsewhere; a reset stream would read as CANCELLED, which clients do not
 * retry. Connections still open once those answers went out are closed.
 */
async function drain(server: Server, options: DrainOptions, logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    let settle: NodeJS.Timeout | undefined;
    const grace = setTimeout(() => {
      const reason = new VaultError('UNAVAILABLE', 'the server is shutting down and its grace period is over; retry the call', { retryAfterMs: DATABASE_RETRY_AFTER_MS });
      const calls = options.pipelines.reduce((count, pipeline) => count + pipeline.abortInFlight(reason), 0);
      logger.warn({ gracePeriodMs: options.graceMs, calls }, 'grace period over: failing the calls still in flight with UNAVAILABLE');
      settle = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, options.settleMs);
    }, options.graceMs);
    server.tryShutdown(() => {
      clearTimeout(grace);
      clearTimeout(settle);
      resolve();
    });
  });
}

async function forceShutdown(server: Server): Promise<void> {
  server.forceShutdown();
}
