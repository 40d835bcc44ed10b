import path from 'node:path';
import { EnvReader } from './env-reader';
import { MAX_RETENTION_MS } from '../domain/retention/retention-policy';
import { parseDuration } from './parse-duration';
// GRPC_CONNECTION_WINDOW's default: HTTP/2's own window (connection-window.ts says when to widen it).
import { HTTP2_DEFAULT_WINDOW_BYTES } from '../transport/grpc/connection-window';

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
  /** Most callers waiting for a connection; one more gets UNAVAILABLE at once (DB_POOL_MAX_WAITING). */
  readonly maxWaiting: number;
}

/** How events are validated, batched and written (the INGEST_* variables). */
export interface IngestSettings {
  /** INGEST_BATCH_SIZE: events per COPY + merge transaction. */
  readonly batchSize: number;
  /** INGEST_BATCH_MAX_BYTES: a batch is written once its events reach this many bytes, even if not full. */
  readonly batchMaxBytes: number;
  /** INGEST_FLUSH_INTERVAL: the longest a partly filled batch of a stream waits before it is written. */
  readonly flushIntervalMs: number;
  /** INGEST_MAX_PAYLOAD_BYTES: the largest payload as stored (jsonb's text form, UTF-8 bytes). */
  readonly maxPayloadBytes: number;
  /** INGEST_MAX_PAYLOAD_DEPTH: the deepest nesting of objects and arrays in a payload. */
  readonly maxPayloadDepth: number;
  /** INGEST_MAX_FUTURE_SKEW: how far ahead of the server clock an event's timestamp may be. */
  readonly maxFutureSkewMs: number;
  /** INGEST_REJECTED_EVENTS_LISTED: how many rejected events a response lists (all are counted). */
  readonly rejectedEventsListed: number;
  /** INGEST_STATEMENT_TIMEOUT: the longest one batch statement may run (the call's deadline may cut it shorter). */
  readonly statementTimeoutMs: number;
  /** INGEST_STREAM_IDLE_TIMEOUT: an IngestStream that sends no message for this long (while the server waits for one) is ended. */
  readonly streamIdleTimeoutMs: number;
}

/** How validated batches are grouped into transactions (group commit) and how long they may wait. */
export interface IngestWriteSettings {
  /** INGEST_WRITE_CONCURRENCY: groups written at once, each on its own primary-pool connection. */
  readonly concurrency: number;
  /** INGEST_GROUP_LINGER: while a group is being written, how long a new batch may wait for others to join its group (0: never). */
  readonly groupLingerMs: number;
  /** INGEST_GROUP_MAX_EVENTS: a group takes no more batches once it holds this many events. */
  readonly groupMaxEvents: number;
  /** INGEST_GROUP_MAX_BYTES: a group takes no more batches once they hold this many bytes. */
  readonly groupMaxBytes: number;
  /** INGEST_WRITE_QUEUE_MAX_BYTES: batches waiting for their group hold at most this many bytes; one more is UNAVAILABLE. */
  readonly queueMaxBytes: number;
}

/** Per-tenant token buckets (the RATE_LIMIT_* variables); tenants may override the three limits. */
export interface RateLimitSettings {
  /** RATE_LIMIT_CALLS_PER_MINUTE: the calls bucket's capacity, refilled over a minute. */
  readonly callsPerMinute: number;
  /** RATE_LIMIT_EVENTS_PER_SECOND: the events bucket's refill rate. */
  readonly eventsPerSecond: number;
  /** RATE_LIMIT_EVENT_BURST: the events bucket's capacity; no single message may carry more events. */
  readonly eventBurst: number;
  /** RATE_LIMIT_STREAM_MAX_WAIT: how long a client stream may be held back for tokens before RESOURCE_EXHAUSTED. */
  readonly streamMaxWaitMs: number;
  /** RATE_LIMIT_REDIS_TIMEOUT: the longest a take waits for Redis before it is served from process memory. */
  readonly redisTimeoutMs: number;
  /** RATE_LIMIT_REDIS_RETRY_INTERVAL: after a Redis failure, how long takes stay in process memory before Redis is tried again. */
  readonly redisRetryIntervalMs: number;
  /** RATE_LIMIT_REDIS_CONNECT_TIMEOUT: how long a connection attempt to Redis may take, and how long start-up waits for Redis (it never fails for it). */
  readonly redisConnectTimeoutMs: number;
  /** RATE_LIMIT_MEMORY_SWEEP_INTERVAL: how often buckets kept in process memory that have refilled are forgotten. */
  readonly memorySweepIntervalMs: number;
}

/** The whole configuration, read once at start-up. Every field is documented in the README. */
export interface Config {
  readonly database: {
    /** DATABASE_URL; undefined = the embedded PostgreSQL under dataDir. */
    readonly url: string | undefined;
    /** DATABASE_READ_URL; undefined = QueryService reads from the primary. */
    readonly readUrl: string | undefined;
    /** DATABASE_DIRECT_URL: the primary without a pooler, for session work (migrations' advisory lock); undefined = DATABASE_URL. */
    readonly directUrl: string | undefined;
    /** VAULT_DATA_DIR, absolute. */
    readonly dataDir: string;
    /** EMBEDDED_PG_PORT; 0 = a free port picked at each start. */
    readonly embeddedPort: number;
    readonly pool: PoolSettings;
    readonly readPool: PoolSettings;
    /**
     * DATABASE_TRANSACTION_POOLING: DATABASE_URL (and DATABASE_READ_URL) lead to a
     * pooler in transaction mode (PgBouncer pool_mode=transaction), so nothing may
     * live on a session: the ingest staging table is created in each transaction
     * (ON COMMIT DROP) and every read sets its statement_timeout with SET LOCAL.
     */
    readonly transactionPooling: boolean;
  };
  readonly grpc: {
    readonly host: string;
    readonly port: number;
    /** GRPC_MAX_RECEIVE_MESSAGE_SIZE: larger messages fail with RESOURCE_EXHAUSTED. */
    readonly maxReceiveMessageBytes: number;
    /** GRPC_RECEIVE_BUDGET: the most request bytes all calls together hold while their messages are received (gRPC and OTLP/HTTP); see ReceiveBudget. */
    readonly receiveBudgetBytes: number;
    /** GRPC_MAX_RESPONSE_BYTES: no response message is larger (pages and stream chunks are cut to fit). */
    readonly maxResponseBytes: number;
    /** GRPC_RESPONSE_BUDGET: the most response bytes all calls together hold for clients that have not taken them; see ResponseBudget. */
    readonly responseBudgetBytes: number;
    /** GRPC_MAX_CONNECTIONS: most client connections each client port (GRPC_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT) holds at once; see ConnectionLimit. */
    readonly maxConnections: number;
    /** GRPC_MAX_CONCURRENT_STREAMS: most calls in flight on one HTTP/2 connection. */
    readonly maxConcurrentStreams: number;
    /** GRPC_CONNECTION_WINDOW: the HTTP/2 receive window of each client connection (all its calls' request bytes in flight). */
    readonly connectionWindowBytes: number;
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
  /** The OTLP receiver's own ports (contract section 9), on GRPC_HOST; undefined = off (OTLP/gRPC stays on GRPC_PORT). */
  readonly otlp: {
    /** OTLP_GRPC_PORT: 4317 by default (0 when GRPC_PORT is 0), 0 = a free one. */
    readonly grpcPort: number | undefined;
    /** OTLP_HTTP_PORT: 4318 by default (0 when GRPC_PORT is 0), 0 = a free one. */
    readonly httpPort: number | undefined;
  };
  readonly redisUrl: string | undefined;
  readonly ingest: IngestSettings;
  readonly ingestWrite: IngestWriteSettings;
  readonly rateLimit: RateLimitSettings;
  readonly auth: {
    /** AUTH_CACHE_TTL: how long a key lookup is reused; revocation takes effect within it (at most 5 s). */
    readonly cacheTtlMs: number;
    /** AUTH_CACHE_MAX_ENTRIES: most cached key lookups per instance. */
    readonly cacheMaxEntries: number;
    readonly failureLimit: AuthFailureSettings;
  };
  readonly log: {
    readonly level: LogLevel;
    /** Whether LOG_LEVEL was set: commands other than serve log warnings only unless it was. */
    readonly levelSet: boolean;
    readonly pretty: boolean;
  };
  readonly tracing: TracingSettings;
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
  /**
   * HEAP_GROWTH_PERCENT: how far V8 lets the heap grow past what the last full
   * collection kept before it collects again (V8's --heap-growing-percent);
   * 0 leaves V8's own heuristics.
   */
  readonly heapGrowthPercent: number;
  readonly query: QuerySettings;
  readonly follow: FollowSettings;
  readonly tenantActivity: {
    /** TENANT_LAST_SEEN_WRITE_INTERVAL: a tenant's last_seen_at is written at most this often per instance. */
    readonly touchIntervalMs: number;
    /** ACTIVE_TENANTS_COUNT_CACHE: the active-tenants gauge is counted in the database at most this often. */
    readonly countCacheMs: number;
  };
  readonly lifecycle: LifecycleSettings;
  readonly rollups: {
    /** ROLLUP_COMPACTION_INTERVAL: how often the rollups' deltas are compacted; 0 = never (tests and drills only). */
    readonly compactionIntervalMs: number;
    /** ROLLUP_COMPACTION_BATCH: deltas moved per compaction transaction. */
    readonly compactionBatchRows: number;
  };
  /** Former variable names still in use, one line each, logged at start-up. */
  readonly deprecations: readonly string[];
}

/** Partitions of events and retention (issue 16; docs/operations.md, "Retention"). */
export interface LifecycleSettings {
  /** EVENTS_PARTITION_INTERVAL: the time range of one events partition, aligned to the unix epoch (1 day: UTC days). */
  readonly partitionIntervalMs: number;
  /** EVENTS_PARTITIONS_AHEAD: partitions kept ready past the one of now plus INGEST_MAX_FUTURE_SKEW. */
  readonly partitionsAhead: number;
  /** RETENTION: how long events are kept unless their tenant says otherwise; undefined = forever. */
  readonly retentionMs: number | undefined;
  /** DATA_LIFECYCLE_INTERVAL: how often an instance creates partitions ahead and enforces retention. */
  readonly intervalMs: number;
  /** RETENTION_DELETE_BATCH: rows per DELETE transaction of the retention work. */
  readonly deleteBatchRows: number;
  /** RETENTION_DELETE_PAUSE: the pause between two delete batches, leaving the database to ingest. */
  readonly deletePauseMs: number;
}

function readLifecycleSettings(read: EnvReader): LifecycleSettings {
  const retentionText = read.raw('RETENTION');
  let retentionMs: number | undefined;
  if (retentionText !== undefined) {
    retentionMs = parseDuration(retentionText);
    if (retentionMs === undefined || retentionMs < 1000 || retentionMs > MAX_RETENTION_MS) {
      read.problem(`RETENTION must be a duration between 1s and 36600d such as 30d or 12h, or unset to keep events forever (got ${JSON.stringify(retentionText.slice(0, 40))})`);
      retentionMs = undefined;
    }
  }
  return {
    // One day: measured in docs/performance.md ("Partition width").
    partitionIntervalMs: read.durationMs('EVENTS_PARTITION_INTERVAL', 86_400_000, { min: 3_600_000, max: 31 * 86_400_000 }),
    partitionsAhead: read.integer('EVENTS_PARTITIONS_AHEAD', 2, { min: 1, max: 366 }),
    retentionMs,
    intervalMs: read.durationMs('DATA_LIFECYCLE_INTERVAL', 60_000, { min: 1000, max: 3_600_000 }),
    deleteBatchRows: read.integer('RETENTION_DELETE_BATCH', 5000, { min: 1, max: 1_000_000 }),
    deletePauseMs: read.durationMs('RETENTION_DELETE_PAUSE', 50, { min: 0, max: 60_000 }),
  };
}

/** The budget of failed authentications per client address (the AUTH_FAILURE* variables). */
export interface AuthFailureSettings {
  /** AUTH_FAILURES_PER_MINUTE: how fast an address's budget refills; 0 = no limit. */
  readonly perMinute: number;
  /** AUTH_FAILURE_BURST: an address's budget when full (failures in a row). */
  readonly burst: number;
  /** AUTH_FAILURE_MAX_ADDRESSES: most addresses whose budget is kept in process memory (least recently used go first). */
  readonly maxAddresses: number;
  /** AUTH_FAILURE_PEER_HEADER: metadata key in which a trusted proxy passes the client's address; undefined = the transport peer. */
  readonly peerHeader: string | undefined;
}

function readAuthFailureSettings(read: EnvReader): AuthFailureSettings {
  const peerHeader = read.optionalString('AUTH_FAILURE_PEER_HEADER')?.toLowerCase();
  if (peerHeader !== undefined && (!/^[0-9a-z_.-]+$/.test(peerHeader) || peerHeader.endsWith('-bin'))) {
    read.problem(`AUTH_FAILURE_PEER_HEADER must be a metadata key such as x-forwarded-for (letters, digits, "_", ".", "-"; not a -bin key) (got "${peerHeader}")`);
  }
  return {
    perMinute: read.integer('AUTH_FAILURES_PER_MINUTE', 60, { min: 0, max: 1_000_000 }),
    burst: read.integer('AUTH_FAILURE_BURST', 60, { min: 1, max: 1_000_000 }),
    maxAddresses: read.integer('AUTH_FAILURE_MAX_ADDRESSES', 100_000, { min: 1, max: 10_000_000 }),
    peerHeader,
  };
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

/** Follow mode of StreamEvents (the FOLLOW_* variables), documented in docs/configuration.md. */
export interface FollowSettings {
  /** FOLLOW_BUFFER_MAX_EVENTS: new events (and commit notices) a follower holds while its client is not taking them; one more ends it with RESOURCE_EXHAUSTED. */
  readonly bufferMaxEvents: number;
  /** FOLLOW_BUFFER_MAX_BYTES: likewise, by their size in responses. */
  readonly bufferMaxBytes: number;
  /** FOLLOW_BUFFERS_MAX_BYTES: what all of an instance's followers hold together; past it the one holding the most fails (FollowBuffers). */
  readonly buffersMaxBytes: number;
  /** FOLLOW_SLOW_CONSUMER_TIMEOUT: the longest a follower's client may leave a message untaken; then RESOURCE_EXHAUSTED. */
  readonly slowConsumerTimeoutMs: number;
  /** FOLLOW_REGISTRATION_TTL: how long a follower registration outlives its instance's last refresh (refreshed every third of it). */
  readonly registrationTtlMs: number;
}

function readFollowSettings(read: EnvReader): FollowSettings {
  const bufferMaxBytes = read.bytes('FOLLOW_BUFFER_MAX_BYTES', 16 * 1024 * 1024, { min: 1024, max: 1024 * 1024 * 1024 });
  const buffersMaxBytes = readBytesAtLeast(read, 'FOLLOW_BUFFERS_MAX_BYTES', 256 * 1024 * 1024, { bytes: bufferMaxBytes, what: 'FOLLOW_BUFFER_MAX_BYTES', why: "one follower's buffer must fit in it" }, 1024);
  return {
    bufferMaxEvents: read.integer('FOLLOW_BUFFER_MAX_EVENTS', 10_000, { min: 1, max: 10_000_000 }),
    bufferMaxBytes,
    buffersMaxBytes,
    slowConsumerTimeoutMs: read.durationMs('FOLLOW_SLOW_CONSUMER_TIMEOUT', 30_000, { min: 100, max: 3_600_000 }),
    registrationTtlMs: read.durationMs('FOLLOW_REGISTRATION_TTL', 60_000, { min: 3000, max: 86_400_000 }),
  };
}

const PORT = { min: 0, max: 65535 };

/**
 * GRPC_MAX_RECEIVE_MESSAGE_SIZE, and GRPC_RECEIVE_BUDGET, which must hold a
 * gzip-compressed message of that size with what it may inflate to (twice
 * the size), so that any one message the server accepts can be received.
 */
function readReceiveLimits(read: EnvReader): Pick<Config['grpc'], 'maxReceiveMessageBytes' | 'receiveBudgetBytes'> {
  const maxReceiveMessageBytes = read.bytes('GRPC_MAX_RECEIVE_MESSAGE_SIZE', 16 * 1024 * 1024, { min: 1024, max: 1024 ** 3 });
  const receiveBudgetBytes = readBytesAtLeast(
    read,
    'GRPC_RECEIVE_BUDGET',
    DEFAULT_RECEIVE_BUDGET_BYTES,
    { bytes: 2 * maxReceiveMessageBytes, what: 'twice GRPC_MAX_RECEIVE_MESSAGE_SIZE', why: 'a compressed message of the largest size and what it may inflate to must fit in it' },
    2048,
  );
  return { maxReceiveMessageBytes, receiveBudgetBytes };
}

/**
 * GRPC_MAX_RESPONSE_BYTES, and GRPC_RESPONSE_BUDGET, which must hold what
 * one StreamEvents call may hold at once (the message HTTP/2 is sending, the
 * rest of its read and the read ahead, each about a message), so that a call
 * alone never passes it.
 */
function readResponseLimits(read: EnvReader): Pick<Config['grpc'], 'maxResponseBytes' | 'responseBudgetBytes'> {
  // 4 MiB: what grpc-go, grpc-java, grpcio, grpc-js and grpcurl accept by default.
  const maxResponseBytes = read.bytes('GRPC_MAX_RESPONSE_BYTES', 4 * 1024 * 1024, { min: 64 * 1024, max: 1024 ** 3 });
  const responseBudgetBytes = readBytesAtLeast(
    read,
    'GRPC_RESPONSE_BUDGET',
    256 * 1024 * 1024,
    { bytes: 4 * maxResponseBytes, what: 'four times GRPC_MAX_RESPONSE_BYTES', why: 'what one StreamEvents call may hold at once must fit in it' },
    256 * 1024,
  );
  return { maxResponseBytes, responseBudgetBytes };
}

/**
 * A size that must hold another setting's (`least`): its default grows to
 * `least` when that is larger, and a value set below it is a start-up
 * problem naming both. Up to 1 TiB.
 */
function readBytesAtLeast(read: EnvReader, name: string, fallback: number, least: { readonly bytes: number; readonly what: string; readonly why: string }, min: number): number {
  const bytes = read.bytes(name, Math.max(fallback, least.bytes), { min, max: 2 ** 40 });
  if (bytes < least.bytes) read.problem(`${name} (${bytes} bytes) must be at least ${least.what} (${least.bytes} bytes): ${least.why}`);
  return bytes;
}

/** The default GRPC_RECEIVE_BUDGET: 16 messages of the default largest size (GRPC_MAX_RECEIVE_MESSAGE_SIZE, 16 MiB) at once. */
const DEFAULT_RECEIVE_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * OTLP_GRPC_PORT and OTLP_HTTP_PORT: a port, `0` for a free one, or `off`.
 * They default to OTLP's standard ports, or to free ones when GRPC_PORT is 0
 * (tests and scripts starting several servers never collide on 4317).
 */
function readOtlpPorts(read: EnvReader): Config['otlp'] {
  const ephemeral = read.raw('GRPC_PORT') === '0';
  const port = (name: string, standard: number): number | undefined => {
    const text = read.string(name, String(standard));
    if (text.toLowerCase() === 'off') return undefined;
    if (read.raw(name) === undefined) return ephemeral ? 0 : standard;
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(value >= PORT.min && value <= PORT.max)) {
      read.problem(`${name} must be a port (0..65535, 0 = a free one) or off, got ${JSON.stringify(text.slice(0, 40))}`);
      return standard;
    }
    return value;
  };
  return { grpcPort: port('OTLP_GRPC_PORT', 4317), httpPort: port('OTLP_HTTP_PORT', 4318) };
}
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
 * environment anywhere else. `read` is for tests: after the call its
 * variables() are every variable read, with its default.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, cwd: string = process.cwd(), read: EnvReader = new EnvReader(env)): Config {
  const poolMax = read.integer('DB_POOL_MAX', 10, { min: 1, max: 1000 });
  const pool: PoolSettings = {
    max: poolMax,
    idleTimeoutMs: read.durationMs('DB_POOL_IDLE_TIMEOUT', 30_000, { min: 1000 }),
    connectionTimeoutMs: read.durationMs('DB_POOL_CONNECTION_TIMEOUT', 2000, { min: 10, max: 60_000 }),
    maxWaiting: read.integer('DB_POOL_MAX_WAITING', 50, { min: 0, max: 100_000 }),
  };
  const config: Config = {
    database: {
      url: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
      readUrl: read.url('DATABASE_READ_URL', ['postgres:', 'postgresql:']),
      directUrl: read.url('DATABASE_DIRECT_URL', ['postgres:', 'postgresql:']),
      dataDir: path.resolve(cwd, read.string('VAULT_DATA_DIR', './.data')),
      embeddedPort: read.integer('EMBEDDED_PG_PORT', 0, PORT),
      pool,
      readPool: { ...pool, max: read.integer('DB_READ_POOL_MAX', poolMax, { min: 1, max: 1000 }) },
      transactionPooling: read.boolean('DATABASE_TRANSACTION_POOLING', false),
    },
    grpc: {
      host: read.string('GRPC_HOST', '0.0.0.0'),
      port: read.integer('GRPC_PORT', 50051, PORT),
      ...readReceiveLimits(read),
      ...readResponseLimits(read),
      maxConnections: read.integer('GRPC_MAX_CONNECTIONS', 4096, { min: 1, max: 1_000_000 }),
      maxConcurrentStreams: read.integer('GRPC_MAX_CONCURRENT_STREAMS', 256, { min: 1, max: 100_000 }),
      // HTTP/2's 64 KiB up to its largest window, 2^31 - 1 bytes.
      connectionWindowBytes: read.bytes('GRPC_CONNECTION_WINDOW', HTTP2_DEFAULT_WINDOW_BYTES, { min: HTTP2_DEFAULT_WINDOW_BYTES, max: 2 ** 31 - 1 }),
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
    otlp: readOtlpPorts(read),
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    ingest: readIngestSettings(read),
    ingestWrite: readIngestWriteSettings(read),
    rateLimit: readRateLimitSettings(read),
    auth: {
      cacheTtlMs: read.durationMs('AUTH_CACHE_TTL', 2000, { min: 0, max: 5000 }),
      cacheMaxEntries: read.integer('AUTH_CACHE_MAX_ENTRIES', 10_000, { min: 1, max: 10_000_000 }),
      failureLimit: readAuthFailureSettings(read),
    },
    log: {
      level: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
      levelSet: read.raw('LOG_LEVEL') !== undefined,
      pretty: read.boolean('LOG_PRETTY', false),
    },
    tracing: readTracingSettings(read),
    metrics: {
      maxLabelValues: read.integer('METRICS_MAX_LABEL_VALUES', 100, { min: 1, max: 10_000 }),
      tenantLabel: read.boolean('METRICS_TENANT_LABEL', false),
    },
    shutdownGraceMs: read.durationMs('SHUTDOWN_GRACE_PERIOD', 25_000, { min: 0, max: 3_600_000 }),
    healthCheckIntervalMs: read.durationMs('HEALTH_CHECK_INTERVAL', 2000, { min: 100, max: 600_000 }),
    heapGrowthPercent: read.integer('HEAP_GROWTH_PERCENT', 100, { min: 0, max: 1000 }),
    query: readQuerySettings(read),
    follow: readFollowSettings(read),
    tenantActivity: {
      touchIntervalMs: read.durationMs('TENANT_LAST_SEEN_WRITE_INTERVAL', 60_000, { min: 1000, max: 86_400_000 }),
      countCacheMs: read.durationMs('ACTIVE_TENANTS_COUNT_CACHE', 15_000, { min: 0, max: 3_600_000 }),
    },
    lifecycle: readLifecycleSettings(read),
    rollups: {
      compactionIntervalMs: read.durationMs('ROLLUP_COMPACTION_INTERVAL', 10_000, { min: 0, max: 3_600_000 }),
      compactionBatchRows: read.integer('ROLLUP_COMPACTION_BATCH', 10_000, { min: 1, max: 1_000_000 }),
    },
    // Last: every variable has been read by now.
    deprecations: read.deprecations(),
  };
  const servable = largestEventResponseBytes(config.ingest.maxPayloadBytes);
  if (config.grpc.maxResponseBytes < servable) {
    read.problem(
      `GRPC_MAX_RESPONSE_BYTES (${config.grpc.maxResponseBytes} bytes) is too small for INGEST_MAX_PAYLOAD_BYTES (${config.ingest.maxPayloadBytes} bytes): an event of that payload can take ${servable} bytes in a response; raise GRPC_MAX_RESPONSE_BYTES or lower INGEST_MAX_PAYLOAD_BYTES`,
    );
  }
  if (config.database.readUrl !== undefined && config.database.url === undefined) {
    read.problem('DATABASE_READ_URL is set but DATABASE_URL is not: a read replica needs an explicit primary');
  }
  if (config.database.directUrl !== undefined && config.database.url === undefined) {
    read.problem('DATABASE_DIRECT_URL is set but DATABASE_URL is not: it is the same primary without a pooler');
  }
  if (config.database.transactionPooling && config.database.directUrl === undefined) {
    read.problem('DATABASE_TRANSACTION_POOLING is set but DATABASE_DIRECT_URL is not: migrations hold a session-level advisory lock, which a transaction-mode pooler cannot keep; set DATABASE_DIRECT_URL to the primary itself');
  }
  read.finish();
  return config;
}

/**
 * The most bytes one event whose stored payload is `maxPayloadBytes` can take
 * in a response: read as a Struct, a payload grows at most 11/3 times (`0, `
 * is 3 bytes stored and an 11-byte Value), so 4x, plus 2 KiB for the other
 * fields (event_id, event_type and service_name at their limits, two
 * timestamps, tags and lengths).
 */
export function largestEventResponseBytes(maxPayloadBytes: number): number {
  return 4 * maxPayloadBytes + 2048;
}

// ---- tracing ------------------------------------------------------------------

/**
 * Whether to start the OpenTelemetry SDK, from its standard OTEL_* variables:
 * an OTLP endpoint, or a traces exporter other than `none`, and the SDK not
 * disabled. The SDK reads the rest of its variables (sampler, resource,
 * protocol) itself. bin/telemetry-vault.js asks before anything else loads,
 * since the instrumentations must patch grpc-js and pg as they load.
 */
export interface TracingSettings {
  readonly enabled: boolean;
  /** OTEL_SERVICE_NAME. */
  readonly serviceName: string;
}

export function readTracingSettings(read: EnvReader): TracingSettings {
  const disabled = read.boolean('OTEL_SDK_DISABLED', false);
  const exporter = read.string('OTEL_TRACES_EXPORTER', 'otlp');
  const exporterNamed = read.raw('OTEL_TRACES_EXPORTER') !== undefined;
  const endpoint = read.optionalString('OTEL_EXPORTER_OTLP_ENDPOINT') ?? read.optionalString('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const serviceName = read.string('OTEL_SERVICE_NAME', 'telemetry-vault');
  const enabled = !disabled && exporter !== 'none' && (exporterNamed || endpoint !== undefined);
  return { enabled, serviceName };
}

// ---- ingest and rate limits ---------------------------------------------------

/**
 * The ingest path's limits. The batch size and flush interval defaults were
 * measured (docs/performance.md, "Choosing the batch size").
 */
function readIngestSettings(read: EnvReader): IngestSettings {
  return {
    batchSize: read.integer('INGEST_BATCH_SIZE', 2000, { min: 1, max: 100_000 }),
    batchMaxBytes: read.bytes('INGEST_BATCH_MAX_BYTES', 4 * 1024 * 1024, { min: 64 * 1024, max: 256 * 1024 * 1024 }),
    flushIntervalMs: read.durationMs('INGEST_FLUSH_INTERVAL', 200, { min: 1, max: 60_000 }),
    // The stored form (what reads return) is limited, not the bytes as sent:
    // jsonb prints numbers in full. At most 1 MiB: a payload is one jsonb
    // value in one row, and a page must still hold one event as a Struct
    // (see GRPC_MAX_RESPONSE_BYTES).
    maxPayloadBytes: read.renamed('INGEST_MAX_PAYLOAD_BYTES', 'INGEST_MAX_PAYLOAD_SIZE').bytes('INGEST_MAX_PAYLOAD_BYTES', 64 * 1024, { min: 2, max: 1024 * 1024 }),
    // 32: the deepest payload that every common protobuf runtime decodes as a
    // Struct inside a query response (scripts/clients/measure-depth.mjs,
    // docs/clients.md): ts-proto fails from 33 object levels on (100 nested
    // messages), the C++, Java and Python runtimes from 34. The maximum, 1000,
    // is for clients that read payload_json or use Go; it stays far below where
    // PostgreSQL's jsonb parser runs out of stack (about ten thousand levels).
    maxPayloadDepth: read.integer('INGEST_MAX_PAYLOAD_DEPTH', 32, { min: 1, max: 1000 }),
    maxFutureSkewMs: read.durationMs('INGEST_MAX_FUTURE_SKEW', 10 * 60_000, { min: 0, max: 7 * 24 * 3_600_000 }),
    rejectedEventsListed: read.integer('INGEST_REJECTED_EVENTS_LISTED', 100, { min: 0, max: 100_000 }),
    statementTimeoutMs: read.durationMs('INGEST_STATEMENT_TIMEOUT', 30_000, { min: 100, max: 3_600_000 }),
    // A quiet stream holds a stream slot and a handler; a minute is far longer
    // than any sender that still means to send waits between messages.
    streamIdleTimeoutMs: read.durationMs('INGEST_STREAM_IDLE_TIMEOUT', 60_000, { min: 100, max: 86_400_000 }),
  };
}

/**
 * Group commit (storage/event-writer.ts). Four connections reach the
 * PostgreSQL ceiling on these machines (docs/performance.md); the linger is
 * short next to a commit, and only applies while a group is being written.
 */
function readIngestWriteSettings(read: EnvReader): IngestWriteSettings {
  return {
    concurrency: read.integer('INGEST_WRITE_CONCURRENCY', 4, { min: 1, max: 1000 }),
    groupLingerMs: read.durationMs('INGEST_GROUP_LINGER', 2, { min: 0, max: 1000 }),
    groupMaxEvents: read.integer('INGEST_GROUP_MAX_EVENTS', 5000, { min: 1, max: 1_000_000 }),
    groupMaxBytes: read.bytes('INGEST_GROUP_MAX_BYTES', 8 * 1024 * 1024, { min: 64 * 1024, max: 256 * 1024 * 1024 }),
    queueMaxBytes: read.bytes('INGEST_WRITE_QUEUE_MAX_BYTES', 64 * 1024 * 1024, { min: 1024 * 1024, max: 4 * 1024 * 1024 * 1024 }),
  };
}

/** Rate-limit defaults, as the contract states them (docs/api.md, "Rate limits"). */
function readRateLimitSettings(read: EnvReader): RateLimitSettings {
  // Tenant overrides are PostgreSQL integers; the defaults share their range.
  const LIMIT = { min: 1, max: 2_147_483_647 };
  return {
    callsPerMinute: read.integer('RATE_LIMIT_CALLS_PER_MINUTE', 1000, LIMIT),
    eventsPerSecond: read.integer('RATE_LIMIT_EVENTS_PER_SECOND', 10_000, LIMIT),
    eventBurst: read.integer('RATE_LIMIT_EVENT_BURST', 20_000, LIMIT),
    streamMaxWaitMs: read.durationMs('RATE_LIMIT_STREAM_MAX_WAIT', 5000, { min: 0, max: 600_000 }),
    redisTimeoutMs: read.durationMs('RATE_LIMIT_REDIS_TIMEOUT', 250, { min: 10, max: 60_000 }),
    redisRetryIntervalMs: read.durationMs('RATE_LIMIT_REDIS_RETRY_INTERVAL', 1000, { min: 0, max: 600_000 }),
    redisConnectTimeoutMs: read.durationMs('RATE_LIMIT_REDIS_CONNECT_TIMEOUT', 1000, { min: 10, max: 60_000 }),
    memorySweepIntervalMs: read.durationMs('RATE_LIMIT_MEMORY_SWEEP_INTERVAL', 60_000, { min: 1000, max: 3_600_000 }),
  };
}
