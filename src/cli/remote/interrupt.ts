/** What `race` returns when Ctrl+C came first. */
export const INTERRUPTED = Symbol('interrupted');

/**
 * Ctrl+C (SIGINT) for one remote command: instead of killing the process, it
 * ends the command's wait (a call, a stream), so that the command returns its
 * exit code and the process exits, which cancels the call.
 */
export class Interrupt {
  private fired = false;
  private readonly fire: () => void;
  private readonly promise: Promise<typeof INTERRUPTED>;

  constructor() {
    let resolve: (value: typeof INTERRUPTED) => void = () => undefined;
    this.promise = new Promise((r) => (resolve = r));
    this.fire = () => {
      this.fired = true;
      resolve(INTERRUPTED);
    };
    process.once('SIGINT', this.fire);
  }

  get interrupted(): boolean {
    return this.fired;
  }

  /** The promise's value, or INTERRUPTED if Ctrl+C comes first. */
  race<T>(promise: Promise<T>): Promise<T | typeof INTERRUPTED> {
    return Promise.race([promise, this.promise]);
  }

  /**
   * The source's items until it ends or Ctrl+C. Leaving early returns the
   * source (the SDK's iterators cancel their call then); a `next()` still
   * pending at Ctrl+C is left to the process's exit.
   */
  async *iterate<T>(source: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
    const iterator = source[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        const result = await this.race(iterator.next());
        if (result === INTERRUPTED) return;
        if (result.done) {
          done = true;
          return;
        }
        yield result.value;
      }
    } finally {
      if (!done && !this.fired) await iterator.return?.();
    }
  }

  dispose(): void {
    process.off('SIGINT', this.fire);
  }
}
