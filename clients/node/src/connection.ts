import { credentials, Metadata, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import type { QueryRetryOptions } from './query-retry';

/** How a client reaches the vault. */
export interface ConnectionOptions {
  /** host:port of the vault's gRPC listener (default localhost:50051). */
  readonly address?: string;
  /** The tenant's API key, sent as x-api-key on every call. */
  readonly apiKey: string;
  /**
   * TLS: absent or false for plaintext; true for TLS with the system roots; or
   * PEM buffers: `ca` (roots to trust), `cert` and `key` (a client certificate for mTLS).
   */
  readonly tls?: boolean | { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Deadline of each query call, and of each ingest stream past its filling time (default 30 000 ms). */
  readonly deadlineMs?: number;
  /** HTTP/2 keepalive ping interval (default 30 000 ms; 0 turns pings off). */
  readonly keepaliveMs?: number;
  /** Retries of queries (docs/sdk.md, "Query retries"): at most 5 attempts per call, backoff 200 ms doubling to 10 s, unless set. */
  readonly queryRetry?: QueryRetryOptions;
  /** Extra grpc-js channel options (advanced). */
  readonly channelOptions?: ChannelOptions;
}

export function channelCredentials(tls: ConnectionOptions['tls']): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if (tls === true) return credentials.createSsl();
  return credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

/**
 * The HTTP/2 receive window the client grants the server, per connection and
 * per call: HTTP/2's own 64 KiB lets a query's pages and StreamEvents chunks
 * come at most 64 KiB per round trip (~3 MB/s at 20 ms); grpc-go and gRPC C++
 * grow theirs to 16 MiB. The price: a call whose messages the application
 * reads slower than they come may hold up to this much of them in the
 * client's memory before the server feels it (channelOptions'
 * `grpc-node.flow_control_window` sets another window).
 */
export const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

export function channelOptions(options: ConnectionOptions): ChannelOptions {
  const keepaliveMs = options.keepaliveMs ?? 30_000;
  return {
    ...(keepaliveMs > 0 ? { 'grpc.keepalive_time_ms': keepaliveMs, 'grpc.keepalive_timeout_ms': 10_000, 'grpc.keepalive_permit_without_calls': 0 } : {}),
    // Ingest streams and queries are retried by this client itself (docs/sdk.md); grpc-js must not replay them too.
    'grpc.enable_retries': 0,
    'grpc-node.flow_control_window': RECEIVE_WINDOW_BYTES,
    ...options.channelOptions,
  };
}

export function keyMetadata(apiKey: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-api-key', apiKey);
  return metadata;
}
