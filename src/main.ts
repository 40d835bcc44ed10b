import { status as grpcStatus, type Server } from '@grpc/grpc-js';
import type pg from 'pg';
import type { Config } from './config/load-config';
import { Authenticator } from './domain/auth/authenticator';
import { CursorCodec } from './domain/query/cursor-codec';
import { QueryService } from './domain/query/query-service';
import { AdminService, type CreatedApiKey } from './domain/tenants/admin-service';
import type { Logger } from './observability/create-logger';
import { createMetrics, type Metrics } from './observability/create-metrics';
import { createQueryMetrics } from './observability/create-query-metrics';
import { ApiKeyRepository } from './storage/api-key-repository';
import { createPool } from './storage/create-pool';
import { DatabaseProbe } from './storage/database-probe';
import { EventQueryRepository } from './storage/event-query-repository';
import { openDatabase, type Database } from './storage/open-database';
import { runMigrations } from './storage/run-migrations';
import { TenantRepository } from './storage/tenant-repository';
import { CURSOR_SIGNING_KEY, VaultSecretRepository } from './storage/vault-secret-repository';
import { ApiKeyAdmission } from './transport/grpc/api-key-admission';
import { CallPipeline } from './transport/grpc/call-pipeline';
import { HealthStatusService, ServingStatus } from './transport/grpc/health-service';
import { createIngestHandlers, INGEST_SERVICE_NAME, ingestServiceDefinition } from './transport/grpc/ingest-handlers';
import { createQueryHandlers, QUERY_SERVICE_NAME, queryServiceDefinition } from './transport/grpc/query-handlers';
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
    const authenticator = new Authenticator(apiKeys, config.auth);
    const firstRunKey = database.embedded ? await admin.ensureDemoTenant() : undefined;

    const metrics = createMetrics(config.metrics);
    // Cursors must verify on every instance: the key is configured, or the one
    // the migrations stored in the (shared) primary database.
    const cursorKey = config.query.cursorSecret !== undefined ? Buffer.from(config.query.cursorSecret, 'utf8') : await new VaultSecretRepository(pool).get(CURSOR_SIGNING_KEY);
    // QueryService reads only from the read pool (the replica's when DATABASE_READ_URL is set).
    const queries = new QueryService(new EventQueryRepository(readPool, (operation, seconds) => metrics.dbQuerySeconds.observe({ operation }, seconds)), new CursorCodec(cursorKey), config.query, createQueryMetrics(metrics.registry).streamObserver);
    const health = new HealthStatusService(HEALTH_SERVICES);
    const pipeline = new CallPipeline({
      logger,
      admission: new ApiKeyAdmission(authenticator),
      onFinish: (ctx, outcome) => {
        const [service = '', method = ''] = ctx.method.split('/');
        const labels = { grpc_service: service, grpc_method: method, grpc_code: grpcStatus[outcome.code] };
        metrics.grpcHandled.inc(labels);
        metrics.grpcHandlingSeconds.observe(labels, outcome.durationSeconds);
        if (outcome.code === grpcStatus.UNAUTHENTICATED) metrics.authFailures.inc();
      },
    });
    const grpc = await startGrpcServer(config.grpc, {
      health,
      services: [
        { definition: ingestServiceDefinition, implementation: createIngestHandlers(pipeline) },
        { definition: queryServiceDefinition, implementation: createQueryHandlers(pipeline, queries) },
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
        await drain(grpc.server, config.shutdownGraceMs, logger);
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

/** tryShutdown refuses new calls and waits for in-flight ones; past the grace period they are cancelled. */
async function drain(server: Server, graceMs: number, logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ gracePeriodMs: graceMs }, 'grace period over: cancelling the calls still in flight');
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function forceShutdown(server: Server): Promise<void> {
  server.forceShutdown();
}
