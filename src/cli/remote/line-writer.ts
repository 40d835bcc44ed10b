import type { Writable } from 'node:stream';

/** The reader of stdout went away (`| head`): the command stops quietly. */
export class OutputClosedError extends Error {
  constructor() {
    super('stdout was closed');
    this.name = 'OutputClosedError';
  }
}

/** Lines are gathered up to this many characters before one write. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes lines to stdout in chunks, with backpressure: lines that arrive
 * together (the events of one stream message) go out in one write, at the
 * latest on the next turn of the event loop, so that a live tail shows each
 * line at once; `write` waits while stdout's buffer is full, so that a slow
 * reader slows the stream instead of growing memory. A closed pipe (EPIPE)
 * makes `write` throw OutputClosedError.
 */
export class LineWriter {
  private pending = '';
  private scheduled: NodeJS.Immediate | undefined;
  private needsDrain = false;
  private closed = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
    out.on('drain', this.onDrain);
  }

  async write(text: string): Promise<void> {
    this.check();
    if (this.needsDrain) {
      await this.drained();
      this.check();
    }
    this.pending += text;
    if (this.pending.length >= CHUNK_CHARS) this.flushNow();
    else this.scheduled ??= setImmediate(() => this.flushNow());
  }

  /** Writes what is pending and waits until stdout took it. */
  async flush(): Promise<void> {
    this.flushNow();
    if (this.needsDrain) await this.drained();
    this.check();
  }

  /** Stops listening to stdout (after the last flush). */
  detach(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.out.off('drain', this.onDrain);
    // Keep swallowing EPIPE: a write already handed to the stream may still fail.
  }

  private flushNow(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.pending === '' || this.closed) return;
    const chunk = this.pending;
    this.pending = '';
    if (!this.out.write(chunk)) this.needsDrain = true;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private check(): void {
    if (this.closed) throw new OutputClosedError();
    if (this.failure) throw this.failure;
  }

  private readonly onDrain = (): void => {
    this.needsDrain = false;
    this.wake?.();
  };

  private readonly onError = (error: Error & { code?: string }): void => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') this.closed = true;
    else this.failure = error;
    this.needsDrain = false;
    this.wake?.();
  };
}
