import type { Server as NetServer } from 'node:net';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import type { Logger } from '../observability/create-logger';
import { boundHttp2Servers } from './grpc/bound-http2-servers';

/** How often, at most, a listener logs the connections it dropped. */
const DROP_LOG_INTERVAL_MS = 60_000;

/**
 * GRPC_MAX_CONNECTIONS: the most client connections each client port
 * (GRPC_PORT, OTLP_GRPC_PORT, OTLP_HTTP_PORT) holds at once; a connection
 * past it is closed as it is accepted, before any byte is read (Node's
 * `maxConnections`), and the client reconnects later (grpc-js with backoff).
 *
 * Without it, connections were bounded only by the process's open-file
 * limit: 20 000 idle HTTP/2 connections from one unauthenticated client
 * took the server to ~500 MB resident and every file descriptor, after which
 * it could neither accept a connection nor open one to PostgreSQL, and under
 * a higher open-file limit memory would have run out first. Connections are
 * cheap for clients (an SDK multiplexes all its calls on one), so the bound
 * costs well-behaved clients nothing; it does not stop one client from
 * taking every slot (per-address limits belong to the proxy or mesh in front,
 * which is what a server behind a sidecar sees as its only peer).
 */
export class ConnectionLimit {
  constructor(
    private readonly maxConnections: number,
    private readonly logger: Logger,
  ) {}

  /** Limits every HTTP/2 server the gRPC server has bound (one per port). Call it after every bind. */
  track(server: GrpcServer): void {
    for (const http2Server of boundHttp2Servers(server, 'ConnectionLimit')) this.limit(http2Server as NetServer, 'gRPC');
  }

  /** Limits one listener; its dropped connections are logged at most once a minute, with their count. */
  limit(server: NetServer, what: string): void {
    server.maxConnections = this.maxConnections;
    let dropped = 0;
    let loggedAt = -Infinity;
    server.on('drop', () => {
      dropped++;
      const now = Date.now();
      if (now - loggedAt < DROP_LOG_INTERVAL_MS) return;
      loggedAt = now;
      const address = server.address();
      this.logger.warn(
        { port: typeof address === 'object' && address !== null ? address.port : undefined, dropped, maxConnections: this.maxConnections },
        `${what} connections past GRPC_MAX_CONNECTIONS were closed as they were accepted (count since start-up)`,
      );
    });
  }
}
