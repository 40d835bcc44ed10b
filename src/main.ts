import type { ServerInterceptor } from '@grpc/grpc-js';
import type pg from 'pg';
import type { Config } from './config/load-config';
import type { CreatedApiKey } from './domain/tenants/admin-service';
import { AdminService } from './domain/tenants/admin-service';
import { Closers } from './features/closers';
import { createHealthFeature } from './features/health-feature';
import { createIngestFeature } from './features/ingest-feature';
import { createLifecycleFeature } from './features/lifecycle-feature';
import { createOtlpFeature } from './features/otlp-feature';
import { createPlatform } from './features/platform';
import { createQueryFeature } from './features/query-feature';
import { createRollupFeature } from './features/rollup-feature';
import type { Logger } from './observability/create-logger';
import type { Metrics } from './observability/create-metrics';
import { callMetricsObserver } from './observability/metrics-observers';
import { DATABASE_RETRY_AFTER_MS } from './storage/map-pg-error';
import { openDatabase, type Database } from './storage/open-database';
import { runMigrations } from './storage/run-migrations';
import { TenantRepository } from './storage/tenant-repository';
import { admitCalls } from './transport/grpc/calls/admit-calls';
import { ReceivedMessages, receiveWithinBudget } from './transport/grpc/calls/budget-received-messages';
import { observeCalls } from './transport/grpc/calls/observe-calls';
import { drainServer } from './transport/grpc/drain-server';
import { startGrpcServer } from './transport/grpc/start-grpc-server';
import { startHttpServer } from './transport/http/start-http-server';

/** A running Telemetry Vault. */
export interface Vault {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** OTLP_GRPC_PORT and OTLP_HTTP_PORT as bound (undefined when off). */
  readonly otlpGrpcPort: number | undefined;
  readonly otlpHttpPort: number | undefined;
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

export interface VaultOptions {
  /**
   * Interceptors of the deployment's own (an identity from the mesh's mTLS
   * certificate, say). They run on every call, health and reflection
   * included (check the method's path to exempt those); on the vault's
   * services, after the call is opened (and logged) and before its API key
   * is checked. They must pass the request metadata object on (changed in
   * place if need be), not a copy. See docs/architecture.md.
   */
  readonly interceptors?: readonly ServerInterceptor[];
}

/** The composition root: config -> database -> platform -> features -> servers. */
export async function startVault(config: Config, logger: Logger, options: VaultOptions = {}): Promise<Vault> {
  const closers = new Closers(logger);
  for (const notice of config.deprecations) logger.warn(notice);
  try {
    const database = closers.add(await openDatabase(config, logger, { role: 'owner' }), (opened) => opened.close());
    await runMigrations(database.directUrl, logger);
    const platform = await createPlatform(config, logger, database, closers);
    const firstRunKey = database.embedded ? await new AdminService(new TenantRepository(platform.pool), platform.apiKeys).ensureDemoTenant() : undefined;

    const otlp = await createOtlpFeature(platform);
    const features = [createIngestFeature(platform), await createQueryFeature(platform), otlp, await createLifecycleFeature(platform), createRollupFeature(platform)];
    const health = createHealthFeature(platform, features);
    const services = features.flatMap((feature) => feature.services);
    const policies = new Map(services.flatMap((service) => [...service.policies]));
    const received = new ReceivedMessages(platform.receiveBudget);
    const grpc = closers.add(
      await startGrpcServer(config.grpc, {
        health: health.service,
        services,
        extraPorts: otlp.grpcPorts,
        serverHooks: [received, platform.sentMessages, platform.connectionLimit],
        interceptors: [
          observeCalls(platform.scopes, policies, callMetricsObserver(platform.metrics)),
          ...(options.interceptors ?? []),
          admitCalls(platform.scopes, policies, { authentication: platform.authentication, limiter: platform.limiter, peerHeader: config.auth.failureLimit.peerHeader }),
          receiveWithinBudget(received, platform.scopes),
        ],
      }),
      async (started) => started.server.forceShutdown(),
    );
    for (const feature of features) if (feature.close) closers.add(feature, (opened) => opened.close!());
    const http = closers.add(await startHttpServer(config.http, { registry: platform.metrics.registry, logger, readiness: health.readiness }), (started) => started.close());
    logger.info({ grpcPort: grpc.port, httpPort: http.port, otlpGrpcPort: grpc.extraPorts[0], otlpHttpPort: otlp.httpPort, embeddedDatabase: database.embedded !== undefined }, 'telemetry vault serving');

    let stopping: Promise<void> | undefined;
    const shutdown = (): Promise<void> => {
      stopping ??= (async () => {
        health.shuttingDown();
        for (const feature of features) feature.drain?.();
        logger.info({ gracePeriodMs: config.shutdownGraceMs }, 'shutting down: refusing new calls, draining in-flight ones');
        await drainServer(
          grpc.server,
          { graceMs: config.shutdownGraceMs, settleMs: config.database.pool.connectionTimeoutMs, retryAfterMs: DATABASE_RETRY_AFTER_MS, abortInFlight: (reason) => platform.pipeline.abortInFlight(reason) },
          logger,
        );
        await closers.closeAll();
        logger.info('shutdown complete');
      })();
      return stopping;
    };
    return { grpcPort: grpc.port, httpPort: http.port, otlpGrpcPort: grpc.extraPorts[0], otlpHttpPort: otlp.httpPort, database, metrics: platform.metrics, pool: platform.pool, readPool: platform.readPool, firstRunKey, shutdown };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
