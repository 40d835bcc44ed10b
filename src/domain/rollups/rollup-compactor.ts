/** Where the compaction's batches run (storage's EventRollupRepository). */
export interface RollupStore {
  /** Moves up to `maxBatches` batches of `batchRows` deltas; undefined when another instance is compacting. */
  compact(batchRows: number, maxBatches: number): Promise<number | undefined>;
}

export interface RollupCompactorOptions {
  /** ROLLUP_COMPACTION_INTERVAL: the pause between rounds; 0 = never start one. */
  readonly intervalMs: number;
  /** ROLLUP_COMPACTION_BATCH: deltas per transaction. */
  readonly batchRows: number;
}

/**
 * Batches per round: a round under a constant stream of deltas ends all the
 * same, and the next one starts an interval later (a round of 100 full
 * batches of 10 000 deltas is ten times what 16 busy streams add in 10 s).
 */
export const MAX_BATCHES_PER_ROUND = 100;

/** Receives what each round did (logging; the domain does not know the logger's shape). */
export interface RollupCompactorObserver {
  compacted(moved: number | undefined): void;
  failed(error: unknown): void;
}

/**
 * Compacts the rollups' append-only deltas in the background, one round
 * every interval, never two at once in this process (and, through the
 * store's advisory lock, in the cluster). A failed round is reported and
 * the next one tries again: reads are exact whether or not deltas are
 * compacted, so nothing waits for it.
 */
export class RollupCompactor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: RollupStore,
    private readonly options: RollupCompactorOptions,
    private readonly observer: RollupCompactorObserver,
  ) {}

  start(): void {
    if (this.options.intervalMs > 0 && !this.stopped) this.schedule();
  }

  /** One round now (what the timer runs); resolves with the deltas moved, undefined when another instance was compacting. */
  async runOnce(): Promise<number | undefined> {
    return this.store.compact(this.options.batchRows, MAX_BATCHES_PER_ROUND);
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then((moved) => this.observer.compacted(moved), (error: unknown) => this.observer.failed(error))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule();
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }
}
