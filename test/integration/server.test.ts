import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health';
import { UNAUTHENTICATED_MESSAGE } from '../../src/domain/auth/authenticator';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { ReflectionClient } from '../support/reflection-client';
import { eventually, startTestServer, type TestServer } from '../support/test-server';

const OTLP_SERVICES = ['opentelemetry.proto.collector.logs.v1.LogsService', 'opentelemetry.proto.collector.metrics.v1.MetricsService', 'opentelemetry.proto.collector.trace.v1.TraceService'];
const SERVICES = ['', 'telemetry.v1.IngestService', 'telemetry.v1.QueryService', ...OTLP_SERVICES];

/** `root` and everything it imports, imports first; throws on an import that is not there by name. */
function inImportOrder(root: string, files: ReadonlyMap<string, FileDescriptorProto>): FileDescriptorProto[] {
  const ordered: FileDescriptorProto[] = [];
  const visit = (name: string, importer: string): void => {
    if (ordered.some((file) => file.name === name)) return;
    const file = files.get(name);
    if (!file) throw new Error(`unresolvable import ${name} of ${importer}`);
    for (const dependency of file.dependency) visit(dependency, name);
    ordered.push(file);
  };
  visit(root, '(root)');
  return ordered;
}

function check(client: HealthClient, service: string): Promise<HealthCheckResponse> {
  return new Promise((resolve, reject) => client.check({ service }, (error, response) => (error ? reject(error) : resolve(response))));
}

describe('the server with a database', () => {
  let db: TestDatabase;
  let server: TestServer;
  let health: HealthClient;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    server = await startTestServer(db.url);
    health = new HealthClient(server.address, credentials.createInsecure());
  });

  afterAll(async () => {
    health.close();
    await server.stop();
    await db.drop();
  });

  test('when started on a fresh database, then it applied the migrations itself', async () => {
    const tables = await db.pool.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    expect(tables.rows.map((row) => row.table_name)).toEqual(expect.arrayContaining(['api_keys', 'events', 'tenants', 'pgmigrations']));
  });

  test('when it runs on DATABASE_URL, then it does not create a demo tenant', async () => {
    expect(server.vault.firstRunKey).toBeUndefined();
    const tenants = await db.pool.query('SELECT 1 FROM tenants');
    expect(tenants.rowCount).toBe(0);
  });

  test.each(SERVICES)('when health of %j is checked, then it is SERVING', async (service) => {
    await eventually(async () => expect((await check(health, service)).status).toBe(ServingStatus.SERVING));
  });

  test('when health of an unknown service is checked, then the answer is NOT_FOUND', async () => {
    await expect(check(health, 'no.such.Service')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  test('when health is listed, then every service is there', async () => {
    const statuses = await new Promise<Record<string, { status: ServingStatus }>>((resolve, reject) =>
      health.list({}, (error, response) => (error ? reject(error) : resolve(response.statuses))),
    );
    expect(Object.keys(statuses).sort()).toEqual([...SERVICES].sort());
  });

  test('when /healthz, /readyz and /metrics are fetched, then they answer', async () => {
    const healthz = await fetch(`${server.httpUrl}/healthz`);
    expect(healthz.status).toBe(200);
    const readyz = await fetch(`${server.httpUrl}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toMatchObject({ status: 'ready', checks: { database: true, acceptingCalls: true } });
    const metrics = await fetch(`${server.httpUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('process_cpu_user_seconds_total');
    expect((await fetch(`${server.httpUrl}/nope`)).status).toBe(404);
  });

  test.each(['v1', 'v1alpha'] as const)('when reflection %s lists services, then the telemetry services, health and reflection are there', async (version) => {
    const reflection = new ReflectionClient(server.address, version);
    try {
      expect((await reflection.listServices()).sort()).toEqual([
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
        ...OTLP_SERVICES,
        'telemetry.v1.IngestService',
        'telemetry.v1.QueryService',
      ]);
    } finally {
      reflection.close();
    }
  });

  test('when a client resolves every import by file name as grpcurl does, then the descriptors build with no repair', async () => {
    const reflection = new ReflectionClient(server.address);
    try {
      const files = new Map<string, FileDescriptorProto>();
      const add = (encoded: Buffer[]): void => {
        for (const bytes of encoded) {
          const file = fromBinary(FileDescriptorProtoSchema, bytes);
          files.set(file.name, file);
        }
      };
      add(await reflection.fileContainingSymbol('telemetry.v1.IngestService'));
      add(await reflection.fileContainingSymbol('telemetry.v1.QueryService'));
      add(await reflection.fileByFilename('google/rpc/error_details.proto'));
      add(await reflection.fileByFilename('google/rpc/status.proto'));
      for (let unresolved = [...files.values()]; unresolved.length > 0; ) {
        const missing = unresolved.flatMap((file) => file.dependency).filter((name) => !files.has(name));
        unresolved = [];
        for (const name of new Set(missing)) {
          const before = new Set(files.keys());
          add(await reflection.fileByFilename(name));
          expect(files.has(name)).toBe(true);
          unresolved.push(...[...files.values()].filter((file) => !before.has(file.name)));
        }
      }
      expect([...files.keys()]).toEqual(
        expect.arrayContaining([
          'google/protobuf/timestamp.proto',
          'google/protobuf/struct.proto',
          'google/protobuf/duration.proto',
          'google/protobuf/any.proto',
          'telemetry/v1/event.proto',
        ]),
      );
      // Resolving imports strictly by file name, as grpcurl does: an import served under another name fails here.
      const build = (root: string) => createFileRegistry(create(FileDescriptorSetSchema, { file: inImportOrder(root, files) }));
      const query = build('telemetry/v1/query_service.proto');
      expect(query.getMessage('telemetry.v1.Event')?.fields.find((field) => field.name === 'timestamp')?.message?.typeName).toBe('google.protobuf.Timestamp');
      expect(query.getService('telemetry.v1.QueryService')?.methods.map((method) => method.name)).toEqual(['QueryEvents', 'StreamEvents', 'Aggregate']);
      expect(build('telemetry/v1/ingest_service.proto').getService('telemetry.v1.IngestService')?.methods.map((method) => method.name)).toEqual(['IngestStream', 'Ingest']);
      expect(build('google/rpc/error_details.proto').getMessage('google.rpc.RetryInfo')).toBeDefined();
      expect(build('google/rpc/status.proto').getMessage('google.rpc.Status')).toBeDefined();
    } finally {
      reflection.close();
    }
  });

  test('when a telemetry call carries no API key, then it is UNAUTHENTICATED', async () => {
    const error = await new Promise<ServiceError>((resolve) => server.query.aggregate({ filter: undefined, groupBy: [], bucket: undefined }, (e) => resolve(e!)));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toBe(UNAUTHENTICATED_MESSAGE);
  });
});

describe('the server when its database goes away', () => {
  let dataDir: string;
  let cluster: EmbeddedCluster;
  let server: TestServer;
  let health: HealthClient;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-health-'));
    cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
    server = await startTestServer(cluster.url);
    health = new HealthClient(server.address, credentials.createInsecure());
  });

  afterAll(async () => {
    health.close();
    await server.stop();
    await cluster.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('when the database stops and comes back, then health and /readyz follow it, and Watch sees each change', async () => {
    const seen: ServingStatus[] = [];
    const watch = health.watch({ service: 'telemetry.v1.IngestService' });
    watch.on('data', (response: HealthCheckResponse) => seen.push(response.status));
    watch.on('error', () => undefined);
    await eventually(() => expect(seen).toEqual([ServingStatus.SERVING]));

    await cluster.stop('immediate');
    for (const service of SERVICES) {
      await eventually(async () => expect((await check(health, service)).status).toBe(ServingStatus.NOT_SERVING));
    }
    const readyz = await fetch(`${server.httpUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ checks: { database: false } });

    await cluster.start();
    await eventually(async () => expect((await check(health, '')).status).toBe(ServingStatus.SERVING));
    expect((await fetch(`${server.httpUrl}/readyz`)).status).toBe(200);
    await eventually(() => expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]));
    watch.cancel();
  });

  test('when the server shuts down, then health turns NOT_SERVING and open Watch streams end', async () => {
    const seen: ServingStatus[] = [];
    const watch = health.watch({ service: '' });
    watch.on('data', (response: HealthCheckResponse) => seen.push(response.status));
    const ended = new Promise<void>((resolve) => {
      watch.on('end', resolve);
      watch.on('error', () => resolve());
    });
    await eventually(() => expect(seen).toEqual([ServingStatus.SERVING]));
    await server.vault.shutdown();
    await ended;
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  });
});
