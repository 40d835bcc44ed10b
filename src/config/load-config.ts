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
    /** GRPC_MAX_CONCURRENT_STREAMS: most calls in flight on one HTTP/2 connection. */
    readonly maxConcurrentStreams: number;
    /** GRPC_KEEPALIVE_TIME: the server pings a connection after this long without activity. */
    readonly keepaliveTimeMs: number;
    /** GRPC_KEEPALIVE_TIMEOUT: a ping unanswered this long closes the connection. */
    readonly keepaliveTimeoutMs: number;
    /** GRPC_MAX_CONNECTION_IDLE: a connection without calls for this long is closed (GOAWAY). */
    readonly maxConnectionIdleMs: number;
    /** GRPC_MAX_CONNECTION_AGE: connections are recycled after this long, so clients rebalance across instances. */
    readonly maxConnectionAgeMs: number;
    /** GRPC_MAX_CONNECTION_AGE_GRACE: how long calls in flight on a recycled connection may still run. */
    readonly maxConnectionAgeGraceMs: number;
    /** TLS_CERT_FILE, TLS_KEY_FILE, TLS_CLIENT_CA_FILE; undefined = plaintext (behind a mesh sidecar). */
    readonly tls: TlsFiles | undefined;
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
  readonly query: QuerySettings;
}

/** PEM files for TLS on the gRPC port. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  readonly clientCaFile: string | undefined;
}

// ---- query (QueryService) settings -------------------------------------------

/** QueryService limits (QUERY_* variables), all documented in the README. */
export interface QuerySettings {
  /** QUERY_STATEMENT_TIMEOUT: the longest one query may run (never past the call's deadline). */
  readonly statementTimeoutMs: number;
  /** QUERY_DEFAULT_LIMIT: page size of a QueryEvents call that sets no limit. */
  readonly defaultLimit: number;
  /** QUERY_MAX_LIMIT: the largest page size a QueryEvents call may ask for. */
  readonly maxLimit: number;
  /** QUERY_MAX_PAGE: the deepest page of offset pagination; deeper reads use the cursor. */
  readonly maxPage: number;
  /** QUERY_STREAM_CHUNK_SIZE: events per StreamEvents response message (and per database read). */
  readonly streamChunkSize: number;
  /** QUERY_AGGREGATE_MAX_ROWS: most rows an Aggregate call may return. */
  readonly aggregateMaxRows: number;
  /** QUERY_FILTER_MAX_VALUES: most event_types, and most service_names, in one filter. */
  readonly filterMaxValues: number;
  /** QUERY_PAYLOAD_CONTAINS_MAX_SIZE: largest payload_contains, as JSON text, in bytes. */
  readonly payloadContainsMaxBytes: number;
  /** QUERY_PAYLOAD_CONTAINS_MAX_DEPTH: deepest nesting of objects and lists in payload_contains. */
  readonly payloadContainsMaxDepth: number;
  /**
   * QUERY_CURSOR_SECRET: the key cursors are signed with; undefined = the
   * random key the migrations stored in the database, shared by every instance.
   */
  readonly cursorSecret: string | undefined;
}

/** Shortest QUERY_CURSOR_SECRET accepted: 32 characters, so that it can hold 128+ bits. */
export const MIN_CURSOR_SECRET_LENGTH = 32;

function readQuerySettings(read: EnvReader): QuerySettings {
  const maxLimit = read.integer('QUERY_MAX_LIMIT', 1000, { min: 1, max: 1000 });
  const cursorSecret = read.optionalString('QUERY_CURSOR_SECRET');
  if (cursorSecret !== undefined && cursorSecret.length < MIN_CURSOR_SECRET_LENGTH) {
    // The value is a secret: the message must not echo it.
    read.problem(`QUERY_CURSOR_SECRET must be at least ${MIN_CURSOR_SECRET_LENGTH} characters long (got ${cursorSecret.length})`);
  }
  return {
    statementTimeoutMs: read.durationMs('QUERY_STATEMENT_TIMEOUT', 30_000, { min: 10, max: 3_600_000 }),
    defaultLimit: read.integer('QUERY_DEFAULT_LIMIT', Math.min(100, maxLimit), { min: 1, max: maxLimit }),
    maxLimit,
    maxPage: read.integer('QUERY_MAX_PAGE', 100, { min: 1, max: 100_000 }),
    streamChunkSize: read.integer('QUERY_STREAM_CHUNK_SIZE', 500, { min: 1, max: 10_000 }),
    aggregateMaxRows: read.integer('QUERY_AGGREGATE_MAX_ROWS', 10_000, { min: 1, max: 1_000_000 }),
    filterMaxValues: read.integer('QUERY_FILTER_MAX_VALUES', 100, { min: 1, max: 10_000 }),
    payloadContainsMaxBytes: read.bytes('QUERY_PAYLOAD_CONTAINS_MAX_SIZE', 4096, { min: 2, max: 1024 * 1024 }),
    payloadContainsMaxDepth: read.integer('QUERY_PAYLOAD_CONTAINS_MAX_DEPTH', 8, { min: 1, max: 64 }),
    cursorSecret,
  };
}

// ---- end of query settings ---------------------------------------------------

const PORT = { min: 0, max: 65535 };
const NEVER = 2_147_483_647;

function readTls(read: EnvReader): TlsFiles | undefined {
  const certFile = read.optionalString('TLS_CERT_FILE');
  const keyFile = read.optionalString('TLS_KEY_FILE');
  const clientCaFile = read.optionalString('TLS_CLIENT_CA_FILE');
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) read.problem('TLS_CLIENT_CA_FILE is set but TLS_CERT_FILE and TLS_KEY_FILE are not: mutual TLS needs the server certificate and key too');
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) {
    read.problem(`${certFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'} is missing: TLS needs both TLS_CERT_FILE and TLS_KEY_FILE`);
    return undefined;
  }
  return { certFile, keyFile, clientCaFile };
}

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
      maxConcurrentStreams: read.integer('GRPC_MAX_CONCURRENT_STREAMS', 256, { min: 1, max: 100_000 }),
      keepaliveTimeMs: read.durationMs('GRPC_KEEPALIVE_TIME', 60_000, { min: 1000, max: NEVER }),
      keepaliveTimeoutMs: read.durationMs('GRPC_KEEPALIVE_TIMEOUT', 20_000, { min: 1000, max: 600_000 }),
      maxConnectionIdleMs: read.durationMs('GRPC_MAX_CONNECTION_IDLE', 600_000, { min: 1000, max: NEVER }),
      maxConnectionAgeMs: read.durationMs('GRPC_MAX_CONNECTION_AGE', 1_800_000, { min: 1000, max: NEVER }),
      maxConnectionAgeGraceMs: read.durationMs('GRPC_MAX_CONNECTION_AGE_GRACE', 300_000, { min: 0, max: NEVER }),
      tls: readTls(read),
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
    query: readQuerySettings(read),
  };
  if (config.database.readUrl !== undefined && config.database.url === undefined) {
    read.problem('DATABASE_READ_URL is set but DATABASE_URL is not: a read replica needs an explicit primary');
  }
  read.finish();
  return config;
}
