import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { QueryServiceClient } from '../../src/gen/telemetry/v1/query_service';
import { AdminService } from '../../src/domain/tenants/admin-service';
import { ApiKeyRepository } from '../../src/storage/api-key-repository';
import { TenantRepository } from '../../src/storage/tenant-repository';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually } from '../support/test-server';

interface ExportedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
}

const SERVER_KIND = 1;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';

/** The vault in a child process with the production tracing setup and an in-memory exporter. */
class TracedVault {
  readonly child: ChildProcess;
  stdout = '';
  readonly ready: Promise<{ grpcPort: number }>;

  constructor(env: Record<string, string>) {
    this.child = fork(path.resolve(__dirname, '../support/traced-vault.cjs'), [], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.ready = new Promise((resolve, reject) => {
      this.child.once('message', (message: { type: string; grpcPort: number }) => resolve(message));
      this.child.once('exit', (code) => reject(new Error(`traced vault exited with ${code}`)));
    });
  }

  spans(): Promise<ExportedSpan[]> {
    return new Promise((resolve) => {
      this.child.once('message', (message: { spans: ExportedSpan[] }) => resolve(message.spans));
      this.child.send({ type: 'spans' });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'stop' });
    await exited;
  }
}

describe('tracing', () => {
  let db: TestDatabase;
  let vault: TracedVault;
  let client: QueryServiceClient;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const admin = new AdminService(new TenantRepository(db.pool), new ApiKeyRepository(db.pool));
    await admin.createTenant({ name: 'traced', callsPerMinute: undefined, eventsPerSecond: undefined, eventBurst: undefined });
    key = (await admin.createKey('traced')).key;
    vault = new TracedVault({ DATABASE_URL: db.url, GRPC_PORT: '0', HTTP_PORT: '0', GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1' });
    const { grpcPort } = await vault.ready;
    client = new QueryServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client.close();
    await vault.stop();
    await db.drop();
  });

  test('when a call carries a traceparent, then the server span continues that trace, and the call log line carries the trace id', async () => {
    const metadata = new Metadata();
    metadata.set('x-api-key', key);
    metadata.set('traceparent', `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`);
    await new Promise<void>((resolve) => client.aggregate({ filter: undefined, groupBy: [], bucket: undefined }, metadata, () => resolve()));

    const spans = await eventually(async () => {
      const found = (await vault.spans()).filter((span) => span.traceId === TRACE_ID);
      expect(found.some((span) => span.kind === SERVER_KIND)).toBe(true);
      return found;
    });
    const server = spans.find((span) => span.kind === SERVER_KIND)!;
    expect(server.name).toBe('grpc.telemetry.v1.QueryService/Aggregate');
    expect(server.parentSpanId).toBe(PARENT_SPAN_ID);

    await eventually(() => {
      const line = vault.stdout.split('\n').find((text) => text.includes('"method":"telemetry.v1.QueryService/Aggregate"'));
      expect(line).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ traceId: TRACE_ID });
    });
  });

  test('when a query runs, then it has its own span under the server span, with the rows it returned', async () => {
    const spans = (await vault.spans()).filter((span) => span.traceId === TRACE_ID);
    const server = spans.find((span) => span.kind === SERVER_KIND)!;
    const query = spans.find((span) => span.name === 'query.aggregate');
    expect(query).toBeDefined();
    expect(query!.parentSpanId).toBe(server.spanId);
    // Aggregate with no grouping returns one row: the total (0 here, no events yet).
    expect(query!.attributes).toMatchObject({ 'vault.query.rows': 1, 'vault.query.row_limit': expect.any(Number) });
  });

  test('when the database is queried on behalf of a call, then the pg spans are children in the same trace, without bound parameters', async () => {
    const spans = await vault.spans();
    const server = spans.find((span) => span.traceId === TRACE_ID && span.kind === SERVER_KIND)!;
    const pgSpans = spans.filter((span) => span.traceId === TRACE_ID && String(span.attributes['db.system'] ?? span.attributes['db.system.name'] ?? '') === 'postgresql');
    expect(pgSpans.length).toBeGreaterThan(0);
    const ids = new Set(spans.filter((span) => span.traceId === TRACE_ID).map((span) => span.spanId));
    for (const span of pgSpans) expect(ids.has(span.parentSpanId!) || span.parentSpanId === server.spanId).toBe(true);
    for (const span of pgSpans) {
      expect(Object.keys(span.attributes).filter((name) => name.includes('values') || name.includes('parameter'))).toEqual([]);
    }
    expect(JSON.stringify(pgSpans)).not.toContain(key);
  });
});

describe('tracing off', () => {
  test('when no OTEL_* variable asks for traces, then the OpenTelemetry SDK is not even loaded', () => {
    const dist = path.resolve(__dirname, '../../dist');
    const loaded = execFileSync(
      process.execPath,
      ['-e', `const t = require(${JSON.stringify(`${dist}/observability/start-tracing.js`)}).startTracingFromEnv({}); require(${JSON.stringify(`${dist}/main.js`)}); console.log(JSON.stringify({ started: t !== undefined, sdk: Object.keys(require.cache).some((k) => k.includes('@opentelemetry/sdk-node')) }))`],
      { env: { PATH: process.env.PATH ?? '' } },
    ).toString();
    expect(JSON.parse(loaded)).toEqual({ started: false, sdk: false });
  });
});
