import path from 'node:path';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../src/gen/grpc/health/v1/health';
import { checkHealth } from '../support/health-watch';
import { metricValue } from '../support/fault-drill';
import { ServerProcess } from '../support/server-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually } from '../support/test-server';

/**
 * A promise that rejects with no handler ends a Node.js process by default;
 * `serve` logs it as an error, counts it and goes on (serve-command.ts,
 * guardUnhandledRejections). The rejection is injected into a real server
 * process by a preloaded module (test/support/inject-rejection.cjs).
 */
describe('an unhandled rejection in a running server (a real server process)', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let ports: { grpcPort: number; httpPort: number };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = new ServerProcess({
      DATABASE_URL: db.url,
      GRPC_HOST: '127.0.0.1',
      HTTP_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      NODE_OPTIONS: `--require ${path.resolve(__dirname, '../support/inject-rejection.cjs')}`,
    });
    ports = await server.serving();
  });

  afterAll(async () => {
    server?.signal('SIGTERM');
    await server?.exited;
    await db?.drop();
  });

  test('when a promise rejects and nothing handles it, then the server logs it as an error with its cause, counts it, and keeps serving', async () => {
    expect(await metricValue(ports.httpPort, 'telemetry_vault_unhandled_rejections_total')).toBe(0);
    server.signal('SIGUSR2');
    await eventually(async () => expect(await metricValue(ports.httpPort, 'telemetry_vault_unhandled_rejections_total')).toBe(1));
    await eventually(async () => {
      const logged = server.records().find((record) => String(record.msg).startsWith('a promise failed and nothing handled it'));
      expect(logged).toMatchObject({ level: 'error', err: { message: 'a rejection no code handles, injected by the test' } });
    });
    expect(await checkHealth(ports.grpcPort)).toBe(ServingStatus.SERVING);
    // A second one is counted too: the guard stays in place.
    server.signal('SIGUSR2');
    await eventually(async () => expect(await metricValue(ports.httpPort, 'telemetry_vault_unhandled_rejections_total')).toBe(2));
    expect(await checkHealth(ports.grpcPort)).toBe(ServingStatus.SERVING);
  });
});
