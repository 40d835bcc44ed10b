import http from 'node:http';
import type { Registry } from 'prom-client';
import type { Config } from '../../config/load-config';
import type { Logger } from '../../observability/create-logger';
import { createGuardedServer, listenOn, type HttpListenerLimits } from './guarded-http-server';

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
 * The bounds of the operations port. Scrapers and probes send a short GET
 * with a few headers and no body; anything bigger or slower is refused
 * before it costs memory:
 * - request line plus headers at most 8 KiB (431 beyond; Node's default is 16 KiB);
 * - headers complete within 10 s and the whole request within 30 s (408);
 * - no request body (413: none of the paths takes one);
 * - at most 256 connections at once (more are closed on accept);
 * - idle keep-alive connections kept 65 s.
 */
export const HTTP_LIMITS = {
  maxHeaderBytes: 8 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 256,
  keepAliveTimeoutMs: 65_000,
} as const satisfies HttpListenerLimits;

/** The paths the port serves, and the methods each accepts. */
const PATHS = ['/metrics', '/healthz', '/readyz'] as const;
type ServedPath = (typeof PATHS)[number];

/**
 * The operations listener: /metrics (Prometheus text), /healthz (the process
 * is alive) and /readyz (the database answers and the server is not shutting
 * down; 503 otherwise, so that load balancers stop sending calls).
 *
 * Nothing a client sends can throw out of a handler: the target is parsed by
 * hand (no `new URL`), every handler runs inside a catch that answers 500
 * and logs, and requests Node's parser refuses (bad request lines, methods,
 * headers, oversized heads) are answered by the clientError handler.
 */
export async function startHttpServer(config: Config['http'], deps: HttpServerDeps): Promise<StartedHttpServer> {
  const server = createGuardedServer(HTTP_LIMITS, deps.logger, (request, response) => {
    try {
      handle(request, response, deps);
    } catch (error) {
      failed(response, deps.logger, error);
    }
  });
  const port = await listenOn(server, config.host, config.port);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(request: http.IncomingMessage, response: http.ServerResponse, deps: HttpServerDeps): void {
  const target = requestPath(request.url);
  if (target === undefined) {
    respond(response, 400, JSON.stringify({ error: 'malformed request target: expected an absolute path such as /metrics' }), { connection: 'close' });
    return;
  }
  if (hasBody(request)) {
    respond(response, 413, JSON.stringify({ error: 'request bodies are not accepted on the operations port' }), { connection: 'close' });
    return;
  }
  if (!isServedPath(target)) {
    respond(response, 404, JSON.stringify({ error: 'not found', paths: PATHS }));
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    respond(response, 405, JSON.stringify({ error: 'method not allowed' }), { allow: 'GET, HEAD' });
    return;
  }
  switch (target) {
    case '/healthz':
      respond(response, 200, JSON.stringify({ status: 'ok' }));
      return;
    case '/readyz': {
      const readiness = deps.readiness();
      respond(response, readiness.ready ? 200 : 503, JSON.stringify({ status: readiness.ready ? 'ready' : 'not ready', checks: readiness.checks }));
      return;
    }
    case '/metrics':
      deps.registry
        .metrics()
        .then((text) => respond(response, 200, text, {}, deps.registry.contentType))
        .catch((error: unknown) => failed(response, deps.logger, error));
      return;
  }
}

/**
 * The path of a request target, without query or fragment: origin-form
 * (`/path?query`) or absolute-form (`http://host/path`); undefined for
 * anything else (`*`, authority-form, control characters). Never throws.
 */
export function requestPath(target: string | undefined): string | undefined {
  if (target === undefined || target.length === 0) return undefined;
  // Node's parser refuses most control characters; this is the last word.
  if (/[\u0000-\u0020\u007f]/.test(target)) return undefined;
  let rest = target;
  if (!rest.startsWith('/')) {
    const absolute = /^https?:\/\/[^/?#]*(.*)$/i.exec(rest);
    if (!absolute) return undefined;
    rest = absolute[1] === '' ? '/' : absolute[1]!;
    if (!rest.startsWith('/')) return undefined;
  }
  const end = rest.search(/[?#]/);
  return end === -1 ? rest : rest.slice(0, end);
}

function isServedPath(path: string): path is ServedPath {
  return (PATHS as readonly string[]).includes(path);
}

function hasBody(request: http.IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function failed(response: http.ServerResponse, logger: Logger, error: unknown): void {
  logger.error({ err: error }, 'HTTP handler failed');
  if (response.headersSent) {
    response.destroy();
    return;
  }
  try {
    respond(response, 500, JSON.stringify({ error: 'internal error' }), { connection: 'close' });
  } catch {
    response.destroy();
  }
}

function respond(response: http.ServerResponse, statusCode: number, body: string, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  response.writeHead(statusCode, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  response.end(body);
}
