import type { Http2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import { boundHttp2Servers } from './bound-http2-servers';

/** HTTP/2's initial connection window (RFC 9113, 6.9.2), which Node's HTTP/2 server keeps unless told otherwise. */
export const HTTP2_DEFAULT_WINDOW_BYTES = 65_535;

/**
 * Grants every client connection a connection-level receive window of
 * `bytes` (GRPC_CONNECTION_WINDOW) instead of HTTP/2's 64 KiB, when it is
 * larger.
 *
 * The connection window bounds the request bytes all of a connection's
 * calls may have in flight before the server answers with WINDOW_UPDATE.
 * grpc-js clients (and the SDK, and OTel exporters) multiplex every call on
 * one connection, so with 64 KiB a client 20 ms away can send ~3 MB/s at
 * most, whatever the server could take (docs/performance.md, "The connection
 * window"). grpc-go and gRPC C++ grow this window by BDP estimation up to
 * 16 MiB; grpc-js offers no server option for it. It stays HTTP/2's by
 * default: on one machine (loopback, the bench) the narrow window paces
 * streaming clients, and a wide one measured 0.86-0.97x their events/s.
 *
 * It adds nothing to what a client can make the server hold: Node counts
 * connection-level bytes as consumed as soon as they are parsed, and what a
 * call has not read yet is bounded by its stream window (HTTP/2's 64 KiB,
 * unchanged) and the message limits. Unread bytes wait in the kernel's socket
 * buffer, not in the process.
 */
export function widenConnectionWindow(server: Server, bytes: number): void {
  if (bytes <= HTTP2_DEFAULT_WINDOW_BYTES) return;
  for (const http2Server of boundHttp2Servers(server, 'widenConnectionWindow')) {
    http2Server.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(bytes);
      } catch {
        // The session closed before its window could be set: nothing to widen.
      }
    });
  }
}
