import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/create-logger';

/** The bounds of one HTTP listener; an unset one keeps Node's default. */
export interface HttpListenerLimits {
  /** Request line plus headers (431 beyond); Node's default is 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Headers must be complete within this long (408). */
  readonly headersTimeoutMs: number;
  /** The whole request must be complete within this long (408). */
  readonly requestTimeoutMs: number;
  /** Connections at once (more are closed on accept). */
  readonly maxConnections?: number;
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs?: number;
}

/**
 * An HTTP server that nothing a client sends can take down, whatever it
 * serves: requests Node's parser refuses (bad request lines, methods,
 * headers, oversized heads, timeouts) are answered with the status that fits
 * and the connection closed; a socket's errors (a reset from the peer) are
 * swallowed; errors of the listener after it started (EMFILE on accept) are
 * logged, never thrown. The handler must not throw (catch inside it).
 */
export function createGuardedServer(limits: HttpListenerLimits, logger: Logger, handler: http.RequestListener): http.Server {
  const server = http.createServer(
    { ...(limits.maxHeaderBytes === undefined ? {} : { maxHeaderSize: limits.maxHeaderBytes }), headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs },
    handler,
  );
  if (limits.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  if (limits.maxConnections !== undefined) server.maxConnections = limits.maxConnections;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, limits));
  server.on('connection', (socket: Socket) => {
    // A reset from the peer is routine; it must never become an 'error' without a listener.
    socket.on('error', () => socket.destroy());
  });
  server.once('listening', () => server.on('error', (error) => logger.warn({ err: error }, 'HTTP listener error')));
  return server;
}

/** Listens on `host` (an IPv6 address may come in brackets, the gRPC way) and `port`; resolves with the port bound. */
export function listenOn(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** What Node's HTTP parser refuses, answered with the status that fits and the connection closed. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, limits: HttpListenerLimits): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ([431, `request line and headers exceed ${limits.maxHeaderBytes ?? http.maxHeaderSize} bytes`] as const)
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
