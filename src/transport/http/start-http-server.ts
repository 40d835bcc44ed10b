import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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
 * The bounds of the operations port. Scrapers and probes send a short GET
 * with a few headers and no body; anything bigger or slower is refused
 * before it costs memory:
 * - request line plus headers at most 8 KiB (431 beyond; Node's default is 16 KiB);
 * - headers complete within 10 s and the whole request within 30 s (408);
 * - no request body (413: none of the paths takes one);
 * - at most 256 connections at once (more are closed on accept).
 */
export const HTTP_LIMITS = {
  maxHeaderBytes: 8 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 256,
} as const;

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
  const server = http.createServer(
    { maxHeaderSize: HTTP_LIMITS.maxHeaderBytes, headersTimeout: HTTP_LIMITS.headersTimeoutMs, requestTimeout: HTTP_LIMITS.requestTimeoutMs },
    (request, response) => {
      try {
        handle(request, response, deps);
      } catch (error) {
        failed(response, deps.logger, error);
      }
    },
  );
  server.keepAliveTimeout = 65_000;
  server.maxConnections = HTTP_LIMITS.maxConnections;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket));
  server.on('connection', (socket: Socket) => {
    // A reset from the peer is routine; it must never become an 'error' without a listener.
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      // Errors after listening (EMFILE on accept, for one) are logged, never thrown.
      server.on('error', (error) => deps.logger.warn({ err: error }, 'HTTP listener error'));
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

/** What Node's HTTP parser refuses, answered with the status that fits and the connection closed. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ([431, `request line and headers exceed ${HTTP_LIMITS.maxHeaderBytes} bytes`] as const)
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([408, 'request not complete in time'] as const)
        : error.code === 'HPE_INVALID_METHOD'
          ? ([501, 'unknown method'] as const)
          : ([400, 'malformed HTTP request'] as const);
  const body = `${JSON.stringify({ error: reason })}\n`;
  const text = http.STATUS_CODES[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}

function respond(response: http.ServerResponse, statusCode: number, body: string, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  response.writeHead(statusCode, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  response.end(body);
}
