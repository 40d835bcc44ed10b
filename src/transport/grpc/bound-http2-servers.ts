import type { EventEmitter } from 'node:events';
import type { Server } from '@grpc/grpc-js';

/**
 * The HTTP/2 servers a grpc-js Server has bound (one per port), for the few
 * things grpc-js has no option or hook for. They are reached through a
 * private field; when it is not there (a grpc-js upgrade changed it), this
 * throws at start-up rather than let the server run without what the caller
 * sets on them. Call it after every bind.
 */
export function boundHttp2Servers(server: Server, purpose: string): EventEmitter[] {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) throw new Error(`grpc-js Server has no http2Servers map: ${purpose} needs updating for this grpc-js version`);
  return [...(http2Servers.keys() as IterableIterator<EventEmitter>)];
}
