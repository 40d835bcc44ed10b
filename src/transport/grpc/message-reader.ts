import type { Readable } from 'node:stream';

/**
 * How many decoded messages a client stream may hold ahead of the handler.
 * Node's object-mode default is 16, which with 16 MiB messages would let one
 * stream hold 256 MiB before flow control pushes back. With 1, a stream holds
 * the message being processed, one read ahead, and what HTTP/2's window lets
 * the client send.
 */
export const STREAM_READ_AHEAD_MESSAGES = 1;

/** How long a reader waits for a message before it gives up, and the error it throws then. */
export interface IdleLimit {
  readonly timeoutMs: number;
  readonly error: () => unknown;
}

/**
 * Pulls messages from a client stream one at a time, only when asked. While
 * the handler does not ask (a flush or a rate-limit pause is running), grpc-js
 * stops reading the HTTP/2 stream, so flow control pushes back on the client.
 * With an idle limit, a client that sends nothing while the handler waits for
 * a message (never sends, or stops sending without half-closing) fails the
 * call instead of holding it open for ever; time the handler spends not
 * asking does not count.
 */
export class MessageReader<T> {
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stream: Readable,
    private readonly idle?: IdleLimit,
  ) {
    // grpc-js creates the stream, so its read-ahead can only be lowered here.
    const state = (stream as unknown as { _readableState?: { highWaterMark?: number } })._readableState;
    if (state && typeof state.highWaterMark === 'number') state.highWaterMark = STREAM_READ_AHEAD_MESSAGES;
    stream.on('readable', () => this.wake?.());
    stream.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    stream.on('error', (error: unknown) => {
      this.failure ??= error;
      this.wake?.();
    });
  }

  /**
   * The next message, or undefined once the client half-closed; rejects with
   * the signal's reason when it aborts, and with the idle limit's error when
   * no message comes within it.
   */
  async next(signal: AbortSignal): Promise<T | undefined> {
    const idleUntil = this.idle === undefined ? Number.POSITIVE_INFINITY : Date.now() + this.idle.timeoutMs;
    for (;;) {
      signal.throwIfAborted();
      if (this.failure !== undefined) throw this.failure;
      const message = this.stream.read() as T | null;
      if (message !== null) return message;
      if (this.ended) return undefined;
      const idleLeftMs = idleUntil - Date.now();
      if (idleLeftMs <= 0) throw this.idle!.error();
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(idleLeftMs) ? setTimeout(() => done(), idleLeftMs) : undefined;
        const done = (): void => {
          this.wake = undefined;
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
