import { ServerInterceptingCall, type Metadata, type Server, type ServerInterceptor } from '@grpc/grpc-js';
import type { VaultError } from '../../../domain/vault-error';
import type { ReceiveBudget } from '../../receive-budget';
import { toGrpcStatus } from '../to-grpc-status';
import type { CallScopes } from './call-scopes';
import { StreamTags } from './stream-tags';

/** Where the 'stream' listener leaves a call's receipt number for the interceptor (only this code may set it). */
const RECEIPT_METADATA = 'x-telemetry-vault-receipt';

/** A gRPC message's length prefix: the compressed flag, then the length (big-endian uint32). */
const PREFIX_BYTES = 5;

/**
 * Holds every gRPC message the server receives to the ReceiveBudget (see
 * there): from its length prefix until grpc-js hands it to the call's
 * handler, or the call ends.
 *
 * grpc-js has no hook between the wire and its own message buffer, so this
 * has two halves, joined by a receipt number that a listener on each bound
 * HTTP/2 server puts in every new stream's request headers:
 * * the interceptor (`receiveWithinBudget`) claims the call's receipt once
 *   the call is admitted; from then on the receipt reads the gRPC framing of
 *   the request bytes as they arrive on the stream, before grpc-js does
 *   (prefixes only: the bytes themselves are left to grpc-js), and takes each
 *   message's size from the budget as it starts; a message that does not
 *   fit pauses the stream, so that HTTP/2 flow control stops its sender, and
 *   fails the call;
 * * the interceptor gives a message's bytes back as grpc-js hands it on, and
 *   fails a refused call: through its handler when one runs (a stream: what
 *   it committed stays), else with its status at once (a unary call, whose
 *   handler never ran). A call that is never admitted reads nothing.
 */
export class ReceivedMessages {
  private readonly receipts: StreamTags<Receipt>;

  constructor(budget: ReceiveBudget) {
    this.receipts = new StreamTags(
      RECEIPT_METADATA,
      'ReceivedMessages',
      (stream) => new Receipt(stream, budget),
      (receipt) => receipt.close(),
    );
  }

  /** Tracks the streams of every port the server has bound. Call it after every bind. */
  track(server: Server): void {
    this.receipts.track(server);
  }

  /** The receipt of the call whose request metadata this is, taken out of the metadata. */
  claim(metadata: Metadata): Receipt | undefined {
    return this.receipts.claim(metadata);
  }
}

/** What a receipt needs of its HTTP/2 stream. */
export interface ReceivedStream {
  pause(): unknown;
  prependListener(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/** One call's messages between the wire and its handler. */
export class Receipt {
  /** What each message started and not yet handed on holds of the budget, oldest first. */
  private readonly held: number[] = [];
  /** Bytes of the current message's body still to come (0: a prefix comes next). */
  private bodyLeft = 0;
  /** The prefix being read: how many of its bytes came, its compressed flag and its length so far. */
  private prefixRead = 0;
  private compressed = false;
  private announced = 0;
  private refusal: VaultError | undefined;
  private onRefusal: ((refusal: VaultError) => void) | undefined;
  /** The tenant whose share the messages take from, once admission knows it (before any message is read). */
  private tenantId: string | undefined;

  constructor(
    private readonly stream: ReceivedStream,
    private readonly budget: ReceiveBudget,
  ) {}

  /**
   * Request bytes as they arrive: each message takes its whole size from the
   * budget when its length prefix arrives (a gzip-compressed one also
   * GRPC_MAX_RECEIVE_MESSAGE_SIZE, what grpc-js may inflate it to), so that a
   * message once started always has the room to finish: with bytes taken as
   * they came, a burst of large messages filled the budget with halves of
   * every one of them, and each then failed.
   */
  received(chunk: Buffer): void {
    if (this.refusal !== undefined) {
      // grpc-js resumes a stream whenever its handler asks for a message: keep a refused one stopped.
      this.stream.pause();
      return;
    }
    let at = 0;
    while (at < chunk.length) {
      if (this.bodyLeft > 0) {
        const body = Math.min(this.bodyLeft, chunk.length - at);
        this.bodyLeft -= body;
        at += body;
        continue;
      }
      const byte = chunk[at++]!;
      if (this.prefixRead++ === 0) {
        this.compressed = byte !== 0;
        this.announced = 0;
      } else this.announced = this.announced * 256 + byte;
      if (this.prefixRead < PREFIX_BYTES) continue;
      this.prefixRead = 0;
      const length = this.announced;
      this.bodyLeft = length;
      // A message over the limit grpc-js refuses itself, unread.
      const max = this.budget.maxMessageBytes;
      const bytes = length > max ? 0 : length + (this.compressed ? max : 0);
      if (!this.budget.tryTake(bytes, this.tenantId)) {
        this.refuse(bytes);
        return;
      }
      this.held.push(bytes);
    }
  }

  /** grpc-js handed the oldest message on: its bytes go back to the budget. */
  delivered(): void {
    const bytes = this.held.shift();
    if (bytes !== undefined) this.budget.give(bytes, this.tenantId);
  }

  /**
   * Called once the call is admitted, before grpc-js reads any of its
   * request: whose share its messages take from, and how a refusal fails the
   * call. From here the receipt sees every chunk of the request before
   * grpc-js does. (Listening from the stream's start would switch it to
   * flowing, only for grpc-js to pause it again, for every call.)
   */
  claimed(tenantId: string | undefined, fail: (refusal: VaultError) => void): void {
    this.tenantId = tenantId;
    this.onRefusal = fail;
    this.stream.prependListener('data', (chunk: Buffer) => this.received(chunk));
  }

  /** The call ended: whatever it still held goes back. */
  close(): void {
    for (const bytes of this.held.splice(0)) this.budget.give(bytes, this.tenantId);
  }

  private refuse(bytes: number): void {
    this.refusal = this.budget.overloaded(bytes, this.tenantId);
    this.stream.pause();
    this.onRefusal?.(this.refusal);
  }
}

/**
 * The interceptor half of ReceivedMessages: gives each message's bytes back
 * as it reaches the handler, and fails a call whose message did not fit.
 * Innermost, so that a refusal passes out through admission and the
 * observing interceptor (logged and counted like any other status).
 */
export function receiveWithinBudget(messages: ReceivedMessages, scopes: CallScopes): ServerInterceptor {
  return (_descriptor, call) => {
    let receipt: Receipt | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            receipt = messages.claim(metadata);
            const scope = scopes.of(metadata);
            receipt?.claimed(scope?.principal?.tenant.id, (refusal) => {
              if (scope?.handling === true && scope.abortHandler !== undefined) {
                scope.abortHandler(refusal);
                return;
              }
              if (scope !== undefined) scope.failure = refusal;
              call.sendStatus(toGrpcStatus(refusal));
            });
            nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            receipt?.delivered();
            nextMessage(message);
          },
        }),
    });
  };
}
