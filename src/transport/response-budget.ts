import { VaultError } from '../domain/vault-error';
import type { HeldBytes } from '../domain/query/stream-pages';

/**
 * GRPC_RESPONSE_BUDGET: the response bytes all gRPC calls together may hold
 * for clients that have not taken them yet. GRPC_MAX_RESPONSE_BYTES bounds
 * one message and HTTP/2 flow control stops a call at what its client has
 * room for; what the client has no room for stays in the server. Without
 * this, a client that asked and did not read made the server hold every
 * answer: 100 QueryEvents calls of 4 MiB pages, 767 MB resident; 10
 * StreamEvents calls over events of 60 KB, 1 GB (each holding the chunk it
 * was sending and the one read ahead).
 *
 * Counted: each response message from when grpc-js writes it to its HTTP/2
 * stream until HTTP/2 has sent it (SentMessages), and the stored events a
 * StreamEvents call has read and not yet handed over (streamPages), as
 * encoded. Past the budget, the call whose client has gone longest without
 * taking anything is ended (reset: nothing else can reach a client that
 * reads nothing), and what it held goes back. A client that keeps reading
 * holds next to nothing for long; one that stops is the first to go.
 */
export class ResponseBudget {
  private held = 0;
  /** The holds holding anything. */
  private readonly holding = new Set<ResponseHold>();

  constructor(
    readonly maxBytes: number,
    /** A clock in ms (performance.now by default; tests pass their own). */
    readonly now: () => number = () => performance.now(),
  ) {}

  /** Bytes held and not given back. */
  get heldBytes(): number {
    return this.held;
  }

  /** One call's hold: `evict` is told when the budget ends the call (once). */
  open(evict: (reason: VaultError) => void): ResponseHold {
    return new ResponseHold(this, evict);
  }

  /** @internal ResponseHold's bookkeeping. */
  changed(hold: ResponseHold, delta: number): void {
    this.held += delta;
    if (hold.bytes > 0) this.holding.add(hold);
    else this.holding.delete(hold);
    if (delta > 0) this.fit();
  }

  /** Past the budget: ends the calls whose clients have gone longest without taking anything until the rest fits. */
  private fit(): void {
    while (this.held > this.maxBytes) {
      let stalest: ResponseHold | undefined;
      for (const hold of this.holding) if (stalest === undefined || hold.since < stalest.since) stalest = hold;
      if (stalest === undefined) return;
      const waitedMs = Math.round(this.now() - stalest.since);
      const reason = new VaultError(
        'RESOURCE_EXHAUSTED',
        `the client took none of this call's response for ${waitedMs} ms while responses waiting for their clients held ${this.held} bytes (GRPC_RESPONSE_BUDGET is ${this.maxBytes}), and it had waited the longest: read responses as they arrive, or retry`,
      );
      stalest.evicted(reason);
    }
  }
}

/**
 * What one call holds of the ResponseBudget: its HTTP/2 stream's unsent
 * messages, and (StreamEvents) the events read for it and not yet sent.
 */
export class ResponseHold implements HeldBytes {
  /** @internal Bytes held now. */
  bytes = 0;
  /** @internal When the client last took something (or when the hold began holding): what the budget evicts by. */
  since = 0;
  private ended = false;

  constructor(
    private readonly budget: ResponseBudget,
    private readonly evict: (reason: VaultError) => void,
  ) {}

  /** Holds `bytes` more. May end this call, or another, when the budget is exceeded. */
  take(bytes: number): void {
    if (this.ended || bytes <= 0) return;
    if (this.bytes === 0) this.since = this.budget.now();
    this.bytes += bytes;
    this.budget.changed(this, bytes);
  }

  /** `bytes` were taken by the client (or dropped): they go back, and the client counts as reading. */
  give(bytes: number): void {
    if (this.ended) return;
    const given = Math.min(bytes, this.bytes);
    this.bytes -= given;
    this.since = this.budget.now();
    this.budget.changed(this, -given);
  }

  /** The call is over: whatever it holds goes back, and later takes and gives count nothing. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    const given = this.bytes;
    this.bytes = 0;
    this.budget.changed(this, -given);
  }

  /** @internal The budget ends this call. */
  evicted(reason: VaultError): void {
    this.close();
    this.evict(reason);
  }
}
