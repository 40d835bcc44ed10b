import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/load-config';
import type { Logger } from '../../observability/create-logger';

/** What /readyz reports. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, boolean>>;
}

export interface HttpServerDeps {
  readonly registry: Registry;
  readonly readiness: () => Readiness;
  readonly logger: Logger;
}

export interface StartedHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operations listener: /metrics (Prometheus text), /healthz (the process
 * is alive) and /readyz (the database answers and the server is not shutting
 * down; 503 otherwise, so that load balancers stop sending calls).
 */
export async function startHttpServer(config: Config['http'], deps: HttpServerDeps): Promise<StartedHttpServer> {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      respond(response, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }), { allow: 'GET, HEAD' });
      return;
    }
    switch (url.pathname) {
      case '/healthz':
        respond(response, 200, 'application/json', JSON.stringify({ status: 'ok' }));
        return;
      case '/readyz': {
        const readiness = deps.readiness();
        respond(response, readiness.ready ? 200 : 503, 'application/json', JSON.stringify({ status: readiness.ready ? 'ready' : 'not ready', checks: readiness.checks }));
        return;
      }
      case '/metrics':
        deps.registry
          .metrics()
          .then(
            (text) => respond(response, 200, deps.registry.contentType, text),
            (error: unknown) => {
              deps.logger.error({ err: error }, 'collecting metrics failed');
              respond(response, 500, 'text/plain', 'collecting metrics failed\n');
            },
          );
        return;
      default:
        respond(response, 404, 'application/json', JSON.stringify({ error: 'not found', paths: ['/metrics', '/healthz', '/readyz'] }));
    }
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function respond(response: http.ServerResponse, statusCode: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(statusCode, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  response.end(body);
}
