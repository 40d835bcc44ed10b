import type { IncomingHttpHeaders } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import { boundHttp2Servers } from '../bound-http2-servers';

/**
 * Where an invalid `grpc-timeout` goes, for admitCalls to refuse the call
 * with INVALID_ARGUMENT (see normalizeRequestHeaders).
 */
export const INVALID_TIMEOUT_METADATA = 'x-telemetry-vault-invalid-grpc-timeout';

/** What grpc-js accepts as a timeout (its own DEADLINE_REGEX); anything else it ends with INTERNAL. */
const GRPC_JS_TIMEOUT = /(\d{1,8})\s*([HMSmun])/;

/**
 * Fixes two things about a new stream's headers before grpc-js reads them:
 *
 * * Node's HTTP/2 server keeps only the first of repeated `authorization`
 *   headers (a "single value" header to it), so a call carrying two Bearer
 *   keys would reach grpc-js, and the interceptors, with the first one alone:
 *   the client's second key silently ignored. Every value is put back, joined
 *   by ", " as other repeated headers are, so that apiKeyOf sees them all and
 *   refuses a call with two different keys.
 * * grpc-js ends a call whose `grpc-timeout` it cannot parse with INTERNAL,
 *   below the interceptors, and INTERNAL promises a server bug. Such a value
 *   is moved to INVALID_TIMEOUT_METADATA instead, and admitCalls refuses the
 *   call with INVALID_ARGUMENT naming the header.
 *
 * grpc-js exposes no hook on the raw HTTP/2 stream: this reaches its bound
 * HTTP/2 servers (boundHttp2Servers), and start-up fails rather than serve
 * without the checks.
 */
export function normalizeRequestHeaders(server: Server): void {
  for (const http2Server of boundHttp2Servers(server, 'normalizeRequestHeaders')) {
    http2Server.prependListener('stream', (_stream: unknown, headers: IncomingHttpHeaders, _flags: unknown, rawHeaders: unknown) => {
      keepRepeatedCredentials(headers, rawHeaders);
      setAsideInvalidTimeout(headers);
    });
  }
}

function keepRepeatedCredentials(headers: IncomingHttpHeaders, rawHeaders: unknown): void {
  if (!Array.isArray(rawHeaders)) return;
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (String(rawHeaders[i]).toLowerCase() === 'authorization') values.push(String(rawHeaders[i + 1]));
  }
  if (values.length > 1) headers.authorization = values.join(', ');
}

function setAsideInvalidTimeout(headers: IncomingHttpHeaders): void {
  // Only this code may set the marker.
  delete headers[INVALID_TIMEOUT_METADATA];
  const timeout = headers['grpc-timeout'];
  if (timeout === undefined || GRPC_JS_TIMEOUT.test(String(timeout))) return;
  delete headers['grpc-timeout'];
  headers[INVALID_TIMEOUT_METADATA] = String(timeout).slice(0, 64);
}
