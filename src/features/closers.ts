import type { Logger } from '../observability/create-logger';

/**
 * What start-up opened, closed in reverse order at shutdown (or when
 * start-up fails halfway). A step that fails is logged and the rest still run.
 */
export class Closers {
  private readonly steps: (() => Promise<void>)[] = [];

  constructor(private readonly logger: Logger) {}

  /** Registers `close` and returns `resource`, so that opening and registering read as one line. */
  add<T>(resource: T, close: (resource: T) => Promise<void>): T {
    this.steps.push(() => close(resource));
    return resource;
  }

  async closeAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      await step().catch((error: unknown) => this.logger.error({ err: error }, 'shutdown step failed'));
    }
  }
}
