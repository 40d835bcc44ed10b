import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Server } from '@grpc/grpc-js';

/**
 * Node's HTTP/2 server keeps only the first of repeated `authorization`
 * headers (a "single value" header to it), so a call carrying two Bearer
 * keys would reach grpc-js, and the interceptors, with the first one alone:
 * the client's second key silently ignored. Before grpc-js reads a new
 * stream's headers, this puts every value back, joined by ", " as other
 * repeated headers are, so that apiKeyOf sees them all and refuses a call
 * with two different keys.
 *
 * grpc-js exposes no hook on the raw HTTP/2 stream: this reaches its bound
 * HTTP/2 servers through a private field, and throws at start-up when that
 * field is not there (a grpc-js upgrade changed it), rather than serve
 * without the check.
 */
export function keepRepeatedCredentials(server: Server): void {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) throw new Error('grpc-js Server has no http2Servers map: keepRepeatedCredentials needs updating for this grpc-js version');
  for (const http2Server of http2Servers.keys() as IterableIterator<EventEmitter>) {
    http2Server.prependListener('stream', (_stream: unknown, headers: IncomingHttpHeaders, _flags: unknown, rawHeaders: unknown) => {
      if (!Array.isArray(rawHeaders)) return;
      const values: string[] = [];
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        if (String(rawHeaders[i]).toLowerCase() === 'authorization') values.push(String(rawHeaders[i + 1]));
      }
      if (values.length > 1) headers.authorization = values.join(', ');
    });
  }
}
