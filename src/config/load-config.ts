import path from 'node:path';
import { EnvReader } from './env-reader';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Settings of one pg connection pool. */
export interface PoolSettings {
  /** Most connections open at once (DB_POOL_MAX). */
  readonly max: number;
  /** An idle connection is closed after this long (DB_POOL_IDLE_TIMEOUT). */
  readonly idleTimeoutMs: number;
  /** The bounded wait for a free connection; past it the call gets UNAVAILABLE (DB_POOL_CONNECTION_TIMEOUT). */
  readonly connectionTimeoutMs: number;
}

/** The whole configuration, read once at start-up. Every field is documented in the README. */
export interface Config {
  readonly database: {
    /** DATABASE_URL; undefined = the embedded PostgreSQL under dataDir. */
    readonly url: string | undefined;
    /** DATABASE_READ_URL; undefined = QueryService reads from the primary. */
    readonly readUrl: string | undefined;
    /** VAULT_DATA_DIR, absolute. */
    readonly dataDir: string;
    /** EMBEDDED_PG_PORT; 0 = a free port picked at each start. */
    readonly embeddedPort: number;
    readonly pool: PoolSettings;
    readonly readPool: PoolSettings;
  };
  readonly grpc: {
    readonly host: string;
    readonly port: number;
    /** GRPC_MAX_RECEIVE_MESSAGE_SIZE: larger messages fail with RESOURCE_EXHAUSTED. */
    readonly maxReceiveMessageBytes: number;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
  };
  readonly redisUrl: string | undefined;
  readonly auth: {
    /** AUTH_CACHE_TTL: how long a key lookup is reused; revocation takes effect within it (at most 5 s). */
    readonly cacheTtlMs: number;
    /** AUTH_CACHE_MAX_ENTRIES: most cached key lookups per instance. */
    readonly cacheMaxEntries: number;
  };
  readonly log: {
    readonly level: LogLevel;
    readonly pretty: boolean;
  };
  readonly metrics: {
    /** METRICS_MAX_LABEL_VALUES: distinct event types, service names (and tenants) per label before `__other__`. */
    readonly maxLabelValues: number;
    /** METRICS_TENANT_LABEL: add a bounded tenant label to the per-event counters. */
    readonly tenantLabel: boolean;
  };
  /** SHUTDOWN_GRACE_PERIOD: how long in-flight calls may run after SIGTERM. */
  readonly shutdownGraceMs: number;
  /** HEALTH_CHECK_INTERVAL: how often the database is probed for health and readiness. */
  readonly healthCheckIntervalMs: number;
}

const PORT = { min: 0, max: 65535 };

/**
 * Reads the configuration from environment variables, all optional. Throws a
 * ConfigError naming every variable with a bad value; never reads the
 * environment anywhere else.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, cwd: string = process.cwd()): Config {
  const read = new EnvReader(env);
  const poolMax = read.integer('DB_POOL_MAX', 10, { min: 1, max: 1000 });
  const pool: PoolSettings = {
    max: poolMax,
    idleTimeoutMs: read.durationMs('DB_POOL_IDLE_TIMEOUT', 30_000, { min: 1000 }),
    connectionTimeoutMs: read.durationMs('DB_POOL_CONNECTION_TIMEOUT', 2000, { min: 10, max: 60_000 }),
  };
  const config: Config = {
    database: {
      url: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
      readUrl: read.url('DATABASE_READ_URL', ['postgres:', 'postgresql:']),
      dataDir: path.resolve(cwd, read.string('VAULT_DATA_DIR', './.data')),
      embeddedPort: read.integer('EMBEDDED_PG_PORT', 0, PORT),
      pool,
      readPool: { ...pool, max: read.integer('DB_READ_POOL_MAX', poolMax, { min: 1, max: 1000 }) },
    },
    grpc: {
      host: read.string('GRPC_HOST', '0.0.0.0'),
      port: read.integer('GRPC_PORT', 50051, PORT),
      maxReceiveMessageBytes: read.bytes('GRPC_MAX_RECEIVE_MESSAGE_SIZE', 16 * 1024 * 1024, { min: 1024, max: 1024 ** 3 }),
    },
    http: {
      host: read.string('HTTP_HOST', '0.0.0.0'),
      port: read.integer('HTTP_PORT', 9464, PORT),
    },
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    auth: {
      cacheTtlMs: read.durationMs('AUTH_CACHE_TTL', 2000, { min: 0, max: 5000 }),
      cacheMaxEntries: read.integer('AUTH_CACHE_MAX_ENTRIES', 10_000, { min: 1, max: 10_000_000 }),
    },
    log: {
      level: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
      pretty: read.boolean('LOG_PRETTY', false),
    },
    metrics: {
      maxLabelValues: read.integer('METRICS_MAX_LABEL_VALUES', 100, { min: 1, max: 10_000 }),
      tenantLabel: read.boolean('METRICS_TENANT_LABEL', false),
    },
    shutdownGraceMs: read.durationMs('SHUTDOWN_GRACE_PERIOD', 25_000, { min: 0, max: 3_600_000 }),
    healthCheckIntervalMs: read.durationMs('HEALTH_CHECK_INTERVAL', 2000, { min: 100, max: 600_000 }),
  };
  if (config.database.readUrl !== undefined && config.database.url === undefined) {
    read.problem('DATABASE_READ_URL is set but DATABASE_URL is not: a read replica needs an explicit primary');
  }
  read.finish();
  return config;
}
