import path from 'node:path';
import { ConfigError } from '../../src/config/env-reader';
import { loadConfig } from '../../src/config/load-config';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  test('when nothing is set, then the documented defaults apply', () => {
    const config = loadConfig({}, '/srv/vault');
    expect(config.database.url).toBeUndefined();
    expect(config.database.readUrl).toBeUndefined();
    expect(config.database.dataDir).toBe(path.resolve('/srv/vault', '.data'));
    expect(config.grpc.port).toBe(50051);
    expect(config.http.port).toBe(9464);
    expect(config.redisUrl).toBeUndefined();
    expect(config.log.level).toBe('info');
    expect(config.log.pretty).toBe(false);
    expect(config.database.pool).toEqual({ max: 10, idleTimeoutMs: 30_000, connectionTimeoutMs: 2000, maxWaiting: 50 });
    expect(config.shutdownGraceMs).toBe(25_000);
    expect(config.heapGrowthPercent).toBe(100);
  });

  test('when values are set, then they are parsed with their units', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/vault',
      DATABASE_READ_URL: 'postgresql://u:p@replica:5432/vault',
      GRPC_PORT: '0',
      HTTP_PORT: '19464',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'DEBUG',
      LOG_PRETTY: 'yes',
      DB_POOL_MAX: '20',
      DB_READ_POOL_MAX: '5',
      DB_POOL_CONNECTION_TIMEOUT: '750ms',
      SHUTDOWN_GRACE_PERIOD: '1m30s',
      GRPC_MAX_RECEIVE_MESSAGE_SIZE: '8MiB',
      HEAP_GROWTH_PERCENT: '0',
    });
    expect(config.database.url).toBe('postgres://u:p@db:5432/vault');
    expect(config.database.readUrl).toBe('postgresql://u:p@replica:5432/vault');
    expect(config.grpc.port).toBe(0);
    expect(config.http.port).toBe(19464);
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.log).toEqual({ level: 'debug', levelSet: true, pretty: true });
    expect(config.database.pool.max).toBe(20);
    expect(config.database.readPool.max).toBe(5);
    expect(config.database.pool.connectionTimeoutMs).toBe(750);
    expect(config.shutdownGraceMs).toBe(90_000);
    expect(config.grpc.maxReceiveMessageBytes).toBe(8 * 1024 * 1024);
    expect(config.heapGrowthPercent).toBe(0);
  });

  test.each([
    ['HEAP_GROWTH_PERCENT', '-1'],
    ['HEAP_GROWTH_PERCENT', '1001'],
    ['GRPC_PORT', 'abc'],
    ['GRPC_PORT', '70000'],
    ['HTTP_PORT', '-1'],
    ['DATABASE_URL', 'mysql://db/vault'],
    ['DATABASE_URL', 'not a url'],
    ['REDIS_URL', 'http://redis'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_PRETTY', 'maybe'],
    ['DB_POOL_MAX', '0'],
    ['DB_POOL_CONNECTION_TIMEOUT', 'soon'],
    ['SHUTDOWN_GRACE_PERIOD', '5 parsecs'],
    ['GRPC_MAX_RECEIVE_MESSAGE_SIZE', '12 bananas'],
    ['DB_POOL_MAX_WAITING', '-1'],
    ['INGEST_BATCH_SIZE', '0'],
    ['INGEST_MAX_PAYLOAD_BYTES', '2MiB'],
    ['INGEST_MAX_PAYLOAD_DEPTH', '5000'],
    ['INGEST_FLUSH_INTERVAL', 'often'],
    ['RATE_LIMIT_EVENT_BURST', '0'],
    ['RATE_LIMIT_CALLS_PER_MINUTE', '1.5'],
    ['RATE_LIMIT_STREAM_MAX_WAIT', 'forever'],
    ['INGEST_STREAM_IDLE_TIMEOUT', 'never'],
    ['INGEST_STREAM_IDLE_TIMEOUT', '10ms'],
    ['GRPC_MAX_CONCURRENT_STREAMS', '0'],
    ['GRPC_CONNECTION_WINDOW', '32KiB'],
    ['GRPC_CONNECTION_WINDOW', '2GiB'],
    ['GRPC_KEEPALIVE_TIME', '10ms'],
    ['GRPC_MAX_CONNECTION_AGE', 'old'],
  ])('when %s is %j, then loading fails with a message naming it', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
    expect(problems[0]).toContain('got');
  });

  test('when nothing is set, then ingest and rate limits have the documented defaults', () => {
    const config = loadConfig({});
    expect(config.ingest).toEqual({
      batchSize: 2000,
      batchMaxBytes: 4 * 1024 * 1024,
      flushIntervalMs: 200,
      maxPayloadBytes: 64 * 1024,
      maxPayloadDepth: 32,
      maxFutureSkewMs: 600_000,
      rejectedEventsListed: 100,
      statementTimeoutMs: 30_000,
      streamIdleTimeoutMs: 60_000,
    });
    expect(config.rateLimit).toEqual({ callsPerMinute: 1000, eventsPerSecond: 10_000, eventBurst: 20_000, streamMaxWaitMs: 5000, redisTimeoutMs: 250, redisRetryIntervalMs: 1000, redisConnectTimeoutMs: 1000, memorySweepIntervalMs: 60_000 });
  });

  test('when ingest and rate-limit variables are set, then they are parsed with their units', () => {
    const config = loadConfig({ INGEST_BATCH_SIZE: '500', INGEST_MAX_PAYLOAD_BYTES: '128KiB', INGEST_MAX_FUTURE_SKEW: '1m', RATE_LIMIT_EVENT_BURST: '50000', RATE_LIMIT_STREAM_MAX_WAIT: '0', DB_POOL_MAX_WAITING: '0' });
    expect(config.ingest).toMatchObject({ batchSize: 500, maxPayloadBytes: 128 * 1024, maxFutureSkewMs: 60_000 });
    expect(config.rateLimit).toMatchObject({ eventBurst: 50_000, streamMaxWaitMs: 0 });
    expect(config.database.pool.maxWaiting).toBe(0);
  });

  test.each<[string, Record<string, string>, boolean]>([
    ['nothing', {}, false],
    ['an OTLP endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    ['a traces-only endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    ['the console exporter', { OTEL_TRACES_EXPORTER: 'console' }, true],
    ['an endpoint with the exporter none', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }, false],
    ['an endpoint with the SDK disabled', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }, false],
  ])('when the environment sets %s, then tracing.enabled is %s', (_name, env, enabled) => {
    expect(loadConfig(env).tracing).toEqual({ enabled, serviceName: 'telemetry-vault' });
  });

  test('when only the former name INGEST_MAX_PAYLOAD_SIZE is set, then its value is used and a deprecation notice names both', () => {
    const config = loadConfig({ INGEST_MAX_PAYLOAD_SIZE: '32KiB' });
    expect(config.ingest.maxPayloadBytes).toBe(32 * 1024);
    expect(config.deprecations).toEqual(['INGEST_MAX_PAYLOAD_SIZE is deprecated: it is now called INGEST_MAX_PAYLOAD_BYTES (its value is used)']);
    expect(loadConfig({}).deprecations).toEqual([]);
  });

  test('when both INGEST_MAX_PAYLOAD_BYTES and its former name are set, then loading fails naming both', () => {
    const problems = problemsOf({ INGEST_MAX_PAYLOAD_BYTES: '32KiB', INGEST_MAX_PAYLOAD_SIZE: '16KiB' });
    expect(problems).toEqual(['INGEST_MAX_PAYLOAD_SIZE is the former name of INGEST_MAX_PAYLOAD_BYTES; both are set: unset INGEST_MAX_PAYLOAD_SIZE']);
  });

  test('when a former name carries a bad value, then the message names the current variable and the value', () => {
    const problems = problemsOf({ INGEST_MAX_PAYLOAD_SIZE: '2MiB' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^INGEST_MAX_PAYLOAD_BYTES must be .*\(got "2MiB"\)$/);
  });

  test('when several variables are bad, then every one is reported at once', () => {
    const problems = problemsOf({ GRPC_PORT: 'x', HTTP_PORT: 'y', LOG_LEVEL: 'z' });
    expect(problems.map((problem) => problem.split(' ')[0])).toEqual(['GRPC_PORT', 'HTTP_PORT', 'LOG_LEVEL']);
  });

  test('when a database URL has a password and is invalid, then the message hides the password', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://user:s3cret@db/vault' });
    expect(problems[0]).not.toContain('s3cret');
  });

  test('when DATABASE_READ_URL is set without DATABASE_URL, then loading fails naming both', () => {
    const problems = problemsOf({ DATABASE_READ_URL: 'postgres://replica/vault' });
    expect(problems[0]).toContain('DATABASE_READ_URL');
    expect(problems[0]).toContain('DATABASE_URL');
  });

  test('when DATABASE_TRANSACTION_POOLING is set without DATABASE_DIRECT_URL, then loading fails naming both and why', () => {
    const problems = problemsOf({ DATABASE_URL: 'postgres://pgbouncer/vault', DATABASE_TRANSACTION_POOLING: 'true' });
    expect(problems[0]).toContain('DATABASE_TRANSACTION_POOLING');
    expect(problems[0]).toContain('DATABASE_DIRECT_URL');
    expect(problems[0]).toContain('advisory lock');
  });

  test('when DATABASE_TRANSACTION_POOLING and DATABASE_DIRECT_URL are set, then both are kept, and pooling is off by default', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://pgbouncer/vault', DATABASE_DIRECT_URL: 'postgres://primary/vault', DATABASE_TRANSACTION_POOLING: 'true' });
    expect(config.database).toMatchObject({ transactionPooling: true, directUrl: 'postgres://primary/vault' });
    expect(loadConfig({}).database).toMatchObject({ transactionPooling: false, directUrl: undefined });
  });

  describe('query settings', () => {
    test('when nothing is set, then the documented query defaults apply', () => {
      expect(loadConfig({}).query).toEqual({
        statementTimeoutMs: 30_000,
        defaultLimit: 100,
        maxLimit: 1000,
        maxPage: 100,
        streamChunkSize: 500,
        aggregateMaxRows: 10_000,
        filterMaxValues: 100,
        payloadContainsMaxBytes: 4096,
        payloadContainsMaxDepth: 8,
        cursorSecret: undefined,
      });
    });

    test('when query variables are set, then they are parsed with their units', () => {
      const config = loadConfig({
        QUERY_STATEMENT_TIMEOUT: '5s',
        QUERY_MAX_LIMIT: '500',
        QUERY_DEFAULT_LIMIT: '50',
        QUERY_MAX_PAGE: '10',
        QUERY_STREAM_CHUNK_SIZE: '1000',
        QUERY_AGGREGATE_MAX_ROWS: '20',
        QUERY_FILTER_MAX_VALUES: '5',
        QUERY_PAYLOAD_CONTAINS_MAX_SIZE: '1KiB',
        QUERY_PAYLOAD_CONTAINS_MAX_DEPTH: '4',
        QUERY_CURSOR_SECRET: 's'.repeat(32),
      });
      expect(config.query).toEqual({
        statementTimeoutMs: 5000,
        defaultLimit: 50,
        maxLimit: 500,
        maxPage: 10,
        streamChunkSize: 1000,
        aggregateMaxRows: 20,
        filterMaxValues: 5,
        payloadContainsMaxBytes: 1024,
        payloadContainsMaxDepth: 4,
        cursorSecret: 's'.repeat(32),
      });
    });

    test('when only QUERY_MAX_LIMIT is lowered under 100, then the default page size follows it', () => {
      expect(loadConfig({ QUERY_MAX_LIMIT: '20' }).query.defaultLimit).toBe(20);
    });

    test.each([
      ['QUERY_STATEMENT_TIMEOUT', '0'],
      ['QUERY_MAX_LIMIT', '1001'],
      ['QUERY_MAX_PAGE', '0'],
      ['QUERY_STREAM_CHUNK_SIZE', 'lots'],
      ['QUERY_AGGREGATE_MAX_ROWS', '0'],
      ['QUERY_FILTER_MAX_VALUES', '-3'],
      ['QUERY_PAYLOAD_CONTAINS_MAX_SIZE', '2MiB'],
      ['QUERY_PAYLOAD_CONTAINS_MAX_DEPTH', '65'],
    ])('when %s is %j, then loading fails with a message naming it', (name, value) => {
      const problems = problemsOf({ [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(name);
    });

    test('when QUERY_DEFAULT_LIMIT is over QUERY_MAX_LIMIT, then loading fails naming it', () => {
      expect(problemsOf({ QUERY_MAX_LIMIT: '50', QUERY_DEFAULT_LIMIT: '60' })[0]).toContain('QUERY_DEFAULT_LIMIT');
    });

    test('when QUERY_CURSOR_SECRET is too short, then loading fails naming it without echoing it', () => {
      const problems = problemsOf({ QUERY_CURSOR_SECRET: 'hunter2-hunter2' });
      expect(problems[0]).toContain('QUERY_CURSOR_SECRET');
      expect(problems[0]).not.toContain('hunter2');
    });
  });
});

describe('loadConfig: the AUTH_FAILURE* variables', () => {
  test('when nothing is set, then 60 failures per minute with a burst of 60, 100 000 addresses, the transport peer', () => {
    expect(loadConfig({}).auth.failureLimit).toEqual({ perMinute: 60, burst: 60, maxAddresses: 100_000, peerHeader: undefined });
  });

  test('when they are set, then they apply (0 per minute turns the limit off; the header is lower-cased)', () => {
    expect(loadConfig({ AUTH_FAILURES_PER_MINUTE: '0', AUTH_FAILURE_BURST: '3', AUTH_FAILURE_MAX_ADDRESSES: '50', AUTH_FAILURE_PEER_HEADER: 'X-Forwarded-For' }).auth.failureLimit).toEqual({
      perMinute: 0,
      burst: 3,
      maxAddresses: 50,
      peerHeader: 'x-forwarded-for',
    });
  });

  test('when they are out of range or malformed, then each problem names its variable', () => {
    const problems = problemsOf({ AUTH_FAILURES_PER_MINUTE: '-1', AUTH_FAILURE_BURST: '0', AUTH_FAILURE_MAX_ADDRESSES: 'lots', AUTH_FAILURE_PEER_HEADER: 'x forwarded' });
    expect(problems).toEqual([
      expect.stringContaining('AUTH_FAILURE_PEER_HEADER must be a metadata key'),
      'AUTH_FAILURES_PER_MINUTE must be between 0 and 1000000 (got "-1")',
      'AUTH_FAILURE_BURST must be between 1 and 1000000 (got "0")',
      'AUTH_FAILURE_MAX_ADDRESSES must be an integer between 1 and 10000000 (got "lots")',
    ]);
    expect(problemsOf({ AUTH_FAILURE_PEER_HEADER: 'x-client-bin' })).toEqual([expect.stringContaining('AUTH_FAILURE_PEER_HEADER must be a metadata key')]);
  });
});

describe('GRPC_RECEIVE_BUDGET', () => {
  test('when nothing is set, then it is 256 MiB; when messages may be larger, then it grows to twice their largest size', () => {
    expect(loadConfig({}).grpc.receiveBudgetBytes).toBe(256 * 1024 * 1024);
    expect(loadConfig({ GRPC_MAX_RECEIVE_MESSAGE_SIZE: '512MiB' }).grpc.receiveBudgetBytes).toBe(1024 * 1024 * 1024);
    expect(loadConfig({ GRPC_RECEIVE_BUDGET: '64MiB' }).grpc.receiveBudgetBytes).toBe(64 * 1024 * 1024);
  });

  test('when it is below twice GRPC_MAX_RECEIVE_MESSAGE_SIZE, then start-up is refused naming both', () => {
    expect(problemsOf({ GRPC_RECEIVE_BUDGET: '16MiB' })).toEqual([
      'GRPC_RECEIVE_BUDGET (16777216 bytes) must be at least twice GRPC_MAX_RECEIVE_MESSAGE_SIZE (33554432 bytes): a compressed message of the largest size and what it may inflate to must fit in it',
    ]);
  });
});

describe('GRPC_RESPONSE_BUDGET', () => {
  test('when nothing is set, then it is 256 MiB; when responses may be larger, then it grows to four times their largest size', () => {
    expect(loadConfig({}).grpc.responseBudgetBytes).toBe(256 * 1024 * 1024);
    expect(loadConfig({ GRPC_MAX_RESPONSE_BYTES: '128MiB' }).grpc.responseBudgetBytes).toBe(512 * 1024 * 1024);
    expect(loadConfig({ GRPC_RESPONSE_BUDGET: '16MiB' }).grpc.responseBudgetBytes).toBe(16 * 1024 * 1024);
  });

  test('when it is below four times GRPC_MAX_RESPONSE_BYTES, then start-up is refused naming both', () => {
    expect(problemsOf({ GRPC_RESPONSE_BUDGET: '15MiB' })).toEqual([
      'GRPC_RESPONSE_BUDGET (15728640 bytes) must be at least four times GRPC_MAX_RESPONSE_BYTES (16777216 bytes): what one StreamEvents call may hold at once must fit in it',
    ]);
  });
});

describe('FOLLOW_BUFFERS_MAX_BYTES', () => {
  test('when nothing is set, then it is 256 MiB; when one follower may hold more, then it grows to that', () => {
    expect(loadConfig({}).follow.buffersMaxBytes).toBe(256 * 1024 * 1024);
    expect(loadConfig({ FOLLOW_BUFFER_MAX_BYTES: '512MiB' }).follow.buffersMaxBytes).toBe(512 * 1024 * 1024);
  });

  test('when it is below FOLLOW_BUFFER_MAX_BYTES, then start-up is refused naming both', () => {
    expect(problemsOf({ FOLLOW_BUFFERS_MAX_BYTES: '8MiB' })).toEqual([
      'FOLLOW_BUFFERS_MAX_BYTES (8388608 bytes) must be at least FOLLOW_BUFFER_MAX_BYTES (16777216 bytes): one follower\'s buffer must fit in it',
    ]);
  });
});
