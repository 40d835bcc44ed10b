import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../src/gen/grpc/health/v1/health';
import { checkHealth } from '../support/health-watch';
import { requestPath } from '../../src/transport/http/start-http-server';
import { httpTargetedCases } from '../../scripts/fuzz/http-cases';
import { httpHealthy, runHttpFuzzCases } from '../../scripts/fuzz/run-http-fuzz';
import { ServerProcess } from '../support/server-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';


/** The raw response(s) to `bytes` sent on a fresh connection, read until the server closes it. */
async function rawExchange(port: number, bytes: string): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(Buffer.from(bytes, 'latin1')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

describe('the HTTP operations port against malformed requests (a real server process)', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let ports: { grpcPort: number; httpPort: number };

  beforeAll(async () => {
    db = await createTestDatabase();
    server = new ServerProcess({ DATABASE_URL: db.url, GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_PORT: '0' });
    ports = await server.serving();
  });

  afterAll(async () => {
    server?.signal('SIGTERM');
    await server?.exited;
    await db?.drop();
  });

  test('when GET //%00 arrives on the HTTP port (it threw in new URL and took gRPC down with it), then it is a 404 and the process keeps serving gRPC and HTTP', async () => {
    const response = await rawExchange(ports.httpPort, 'GET //%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(response).toMatch(/^HTTP\/1\.1 404 /);
    expect(await httpHealthy(ports.httpPort)).toBe(true);
    expect(await checkHealth(ports.grpcPort)).toBe(ServingStatus.SERVING);
  });

  test('when malformed request lines, targets, methods, versions, headers and bodies arrive over raw TCP, then each gets the status that fits (400, 404, 405, 413, 431...) or a closed connection, never a 500, and the process still serves gRPC and HTTP', async () => {
    const cases = httpTargetedCases();
    expect(cases.length).toBeGreaterThan(50);
    const report = await runHttpFuzzCases(ports.httpPort, cases, { concurrency: 4 });
    if (report.failures.length > 0) process.stderr.write(`${report.summary()}\n`);
    expect(report.failures.map((failure) => `${failure.caseName} -> ${failure.outcomes.join(',')}: ${failure.problem}`)).toEqual([]);
    expect(report.outcomes.get('500')).toBeUndefined();
    expect(server.records().filter((record) => Number(record.level) >= 50)).toEqual([]);
    expect(await httpHealthy(ports.httpPort)).toBe(true);
    expect(await checkHealth(ports.grpcPort)).toBe(ServingStatus.SERVING);
  });

  test('when a request names a path that is served with another method, then 405 names the allowed methods; an unknown path is 404; a request body is 413; a 9 KiB header is 431', async () => {
    expect(await rawExchange(ports.httpPort, 'POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 405 [^]*\r\nallow: GET, HEAD\r\n/i);
    expect(await rawExchange(ports.httpPort, 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await rawExchange(ports.httpPort, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')).toMatch(/^HTTP\/1\.1 413 /);
    expect(await rawExchange(ports.httpPort, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'v'.repeat(9216)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 [^]*8192 bytes/);
  });
});

describe('requestPath', () => {
  test('when a request target is origin-form, absolute-form or malformed, then its path comes back without query or fragment, or undefined, and it never throws', () => {
    expect(requestPath('/metrics?x=1')).toBe('/metrics');
    expect(requestPath('/healthz#f')).toBe('/healthz');
    expect(requestPath('//%00')).toBe('//%00');
    expect(requestPath('http://host:1/readyz?q')).toBe('/readyz');
    expect(requestPath('http://host')).toBe('/');
    for (const bad of [undefined, '', '*', 'healthz', 'host:443', 'ftp://x/y', '/a b', '/a\u0000b']) expect(requestPath(bad)).toBeUndefined();
  });
});
