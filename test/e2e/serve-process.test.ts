import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../src/gen/grpc/health/v1/health';
import { checkHealth } from '../support/health-watch';
import { QueryServiceClient } from '../../src/gen/telemetry/v1/query_service';
import { runCliCaptured } from '../support/run-cli-captured';
import { ServerProcess } from '../support/server-process';

/** The status of an Aggregate call made with `key`: tells whether the key authenticates. */
function aggregateStatus(grpcPort: number, key: string): Promise<status> {
  const client = new QueryServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  return new Promise((resolve) =>
    client.aggregate({ filter: undefined, groupBy: [], bucket: undefined }, metadata, (error: ServiceError | null) => {
      client.close();
      resolve(error ? error.code : status.OK);
    }),
  );
}


const postmasterPid = (dataDir: string) => path.join(dataDir, 'pg', 'postmaster.pid');

describe('telemetry-vault serve on the embedded database', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-e2e-'));
    env = { VAULT_DATA_DIR: dataDir, GRPC_PORT: '0', HTTP_PORT: '0', GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', HEALTH_CHECK_INTERVAL: '200ms' };
  });

  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('when it starts on a fresh data directory, then it serves, creates the demo tenant and prints its key once with a grpcurl command; SIGTERM exits 0 and stops PostgreSQL', async () => {
    const startedAt = Date.now();
    const server = new ServerProcess(env);
    const { grpcPort, httpPort } = await server.serving();
    await expect(checkHealth(grpcPort)).resolves.toBe(ServingStatus.SERVING);
    process.stdout.write(`cold start of serve on a fresh data directory (initdb included) to SERVING: ${Date.now() - startedAt} ms\n`);

    const key = /First run: created tenant "demo".*\n\s*\n\s+(tv_[A-Za-z0-9_-]{43})\n/.exec(server.stderr)?.[1];
    expect(key).toBeDefined();
    expect(server.stderr).toContain(`grpcurl -plaintext -H 'x-api-key: ${key}'`);
    expect(server.stderr).toContain(`localhost:${grpcPort} telemetry.v1.IngestService/Ingest`);
    expect(server.stdoutLines.join('\n')).not.toContain(key!);

    expect(await aggregateStatus(grpcPort, key!)).not.toBe(status.UNAUTHENTICATED);
    expect(await aggregateStatus(grpcPort, `tv_${'A'.repeat(43)}`)).toBe(status.UNAUTHENTICATED);
    expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).toBe(200);

    server.signal('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(postmasterPid(dataDir))).toBe(false);
    expect(server.records().map((record) => record.msg)).toEqual(expect.arrayContaining(['shutting down: refusing new calls, draining in-flight ones', 'shutdown complete']));
  });

  test('when the CLI runs while the server runs, then both use the same database and the server keeps serving', async () => {
    const server = new ServerProcess(env);
    const { grpcPort } = await server.serving();
    const created = await runCliCaptured(['tenant', 'create', 'while-serving', '--json'], { VAULT_DATA_DIR: dataDir });
    expect(created.code).toBe(0);
    const key = (await runCliCaptured(['key', 'create', 'while-serving', '--json'], { VAULT_DATA_DIR: dataDir })).json<{ key: string }>().key;
    expect(await aggregateStatus(grpcPort, key)).not.toBe(status.UNAUTHENTICATED);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await expect(checkHealth(grpcPort)).resolves.toBe(ServingStatus.SERVING);

    server.signal('SIGINT');
    expect((await server.exited).code).toBe(0);
  });

  test('when it restarts on the same data directory, then the data is kept and no second demo key is made', async () => {
    const server = new ServerProcess(env);
    await server.serving();
    expect(server.stderr).not.toContain('First run');
    const tenants = await runCliCaptured(['tenant', 'list', '--json'], { VAULT_DATA_DIR: dataDir });
    expect(tenants.json<{ name: string }[]>().map((tenant) => tenant.name)).toEqual(['demo', 'while-serving']);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  test('when the server is killed outright, then the next start adopts the PostgreSQL it left running', async () => {
    const first = new ServerProcess(env);
    await first.serving();
    const orphan = Number(fs.readFileSync(postmasterPid(dataDir), 'utf8').split('\n')[0]);
    first.signal('SIGKILL');
    await first.exited;
    expect(() => process.kill(orphan, 0)).not.toThrow();

    const second = new ServerProcess(env);
    const { grpcPort } = await second.serving();
    expect(second.records().some((record) => record.msg === 'adopting the embedded PostgreSQL already running on the data directory')).toBe(true);
    await expect(checkHealth(grpcPort)).resolves.toBe(ServingStatus.SERVING);
    second.signal('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(fs.existsSync(postmasterPid(dataDir))).toBe(false);
  });

  test('when a configuration value is bad, then serve exits 78 naming the variable', async () => {
    const server = new ServerProcess({ ...env, GRPC_PORT: 'fifty' });
    expect((await server.exited).code).toBe(78);
    expect(server.stderr).toContain('GRPC_PORT must be an integer between 0 and 65535 (got "fifty")');
  });
});
