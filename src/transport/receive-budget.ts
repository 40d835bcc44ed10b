import { VaultError } from '../domain/vault-error';

/** How long a client refused for the budget is asked to wait: a received message is decoded and handed on within milliseconds. */
export const RECEIVE_RETRY_AFTER_MS = 1000;

/**
 * GRPC_RECEIVE_BUDGET: the request bytes all calls together may hold while
 * their messages are received and decoded, on both gRPC ports and on
 * OTLP/HTTP. GRPC_MAX_RECEIVE_MESSAGE_SIZE bounds one message; without this,
 * an authenticated client (or many) sending many large messages at once made
 * the server hold all of them (128 calls of 16 MiB: 2.7 GB resident), and a
 * container's memory limit would end the process. A gRPC message takes its
 * size from the budget when its length prefix arrives (a gzip-compressed
 * one also GRPC_MAX_RECEIVE_MESSAGE_SIZE, what it may inflate to), and gives
 * it back once it is handed to its handler (whose events the write queue
 * bounds from then on: INGEST_WRITE_QUEUE_MAX_BYTES) or its call ends; an
 * OTLP/HTTP body holds its bytes as they arrive (and, gzipped, what it may
 * inflate to) until it is answered. A message that does not fit fails its
 * call with UNAVAILABLE and RetryInfo before the rest of it is read: large
 * messages are refused first, and smaller ones still fit.
 */
export class ReceiveBudget {
  private held = 0;
  private readonly heldByTenant = new Map<string, number>();
  /**
   * The most one tenant's requests may hold: half the budget, so that one
   * tenant (a client that starts many large messages and sends them slowly,
   * say) cannot keep the others' messages out; never less than what one
   * message of the largest size takes when compressed (itself and what it
   * may inflate to: twice the size).
   */
  readonly tenantMaxBytes: number;

  constructor(
    readonly maxBytes: number,
    /** GRPC_MAX_RECEIVE_MESSAGE_SIZE: also what a compressed message may inflate to. */
    readonly maxMessageBytes: number,
  ) {
    this.tenantMaxBytes = Math.max(Math.floor(maxBytes / 2), Math.min(maxBytes, 2 * maxMessageBytes));
  }

  /** Bytes taken and not given back (of `tenantId`'s requests, or of all). */
  heldBytes(tenantId?: string): number {
    return tenantId === undefined ? this.held : (this.heldByTenant.get(tenantId) ?? 0);
  }

  /** Takes `bytes` for a request of `tenantId` (undefined: not yet authenticated) when they fit; false (nothing taken) when they do not. */
  tryTake(bytes: number, tenantId: string | undefined): boolean {
    if (this.held + bytes > this.maxBytes) return false;
    if (tenantId !== undefined) {
      const tenantHeld = this.heldByTenant.get(tenantId) ?? 0;
      if (tenantHeld + bytes > this.tenantMaxBytes) return false;
      this.heldByTenant.set(tenantId, tenantHeld + bytes);
    }
    this.held += bytes;
    return true;
  }

  give(bytes: number, tenantId: string | undefined): void {
    this.held -= bytes;
    if (tenantId === undefined) return;
    const tenantHeld = (this.heldByTenant.get(tenantId) ?? 0) - bytes;
    if (tenantHeld > 0) this.heldByTenant.set(tenantId, tenantHeld);
    else this.heldByTenant.delete(tenantId);
  }

  /** The refusal of a request of `tenantId` whose `bytes` did not fit. */
  overloaded(bytes: number, tenantId: string | undefined): VaultError {
    const tenantHeld = tenantId === undefined ? 0 : this.heldBytes(tenantId);
    const why =
      tenantId !== undefined && tenantHeld + bytes > this.tenantMaxBytes
        ? `this tenant's requests being received already hold ${tenantHeld} bytes and this one needs ${bytes} more, past the ${this.tenantMaxBytes} bytes one tenant may hold (half of GRPC_RECEIVE_BUDGET, ${this.maxBytes})`
        : `requests being received already hold ${this.held} bytes and this one needs ${bytes} more (GRPC_RECEIVE_BUDGET is ${this.maxBytes})`;
    return new VaultError('UNAVAILABLE', `the server is overloaded: ${why}; retry the call`, { retryAfterMs: RECEIVE_RETRY_AFTER_MS });
  }
}
