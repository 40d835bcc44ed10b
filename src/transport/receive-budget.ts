import { VaultError } from '../domain/vault-error';

/** How long a client refused for the budget is asked to wait: a received message is decoded and handed on within milliseconds. */
export const RECEIVE_RETRY_AFTER_MS = 1000;

/**
 * GRPC_RECEIVE_BUDGET: the request bytes all calls together may hold while
 * their messages are received and decoded, on both gRPC ports and on
 * OTLP/HTTP. GRPC_MAX_RECEIVE_MESSAGE_SIZE bounds one message; without this,
 * an authenticated client (or many) sending many large messages at once made
 * the server hold all of them (128 calls of 16 MiB: 2.7 GB resident), and a
 * container's memory limit would end the process. Request bytes take their
 * room as they arrive (a gzip-compressed message, once whole, also takes
 * GRPC_MAX_RECEIVE_MESSAGE_SIZE, what it may inflate to), and give it back
 * once the message is handed to its handler (whose events the write queue
 * bounds from then on: INGEST_WRITE_QUEUE_MAX_BYTES) or its call ends; an
 * OTLP/HTTP body holds its bytes until it is answered. Bytes that do not fit
 * fail their call with UNAVAILABLE and RetryInfo, and the rest of its
 * message is not read.
 */
export class ReceiveBudget {
  private held = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes taken and not given back. */
  get heldBytes(): number {
    return this.held;
  }

  /** Takes `bytes` when they fit; false (nothing taken) when they do not. */
  tryTake(bytes: number): boolean {
    if (this.held + bytes > this.maxBytes) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
  }

  /** The refusal of a request whose `bytes` did not fit. */
  overloaded(bytes: number): VaultError {
    return new VaultError(
      'UNAVAILABLE',
      `the server is overloaded: requests being received already hold ${this.held} bytes and this one needs ${bytes} more (GRPC_RECEIVE_BUDGET is ${this.maxBytes}); retry the call`,
      { retryAfterMs: RECEIVE_RETRY_AFTER_MS },
    );
  }
}
