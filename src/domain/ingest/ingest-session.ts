import type { IngestSettings } from '../../config/load-config';
import type { AuthenticatedContext } from '../call-context';
import type { RateLimitCharge, RateLimiter, RateLimitStatus } from '../rate-limit/rate-limiter';
import type { RetentionPolicy } from '../retention/retention-policy';
import type { Tenant } from '../tenants/tenant';
import { VaultError } from '../vault-error';
import { EventBatch } from './event-batch';
import type { EventValidator } from './event-validator';
import type { EventSink, IncomingEvent, IngestOutcome, RejectedEvent, WriteResult } from './ingest-event';

/** A batch that was committed, as reported to the observer. */
export interface WrittenBatch extends WriteResult {
  /** Events in the batch (inserted + duplicates). */
  readonly events: number;
  /** COPY + merge + commit, in seconds. */
  readonly seconds: number;
}

/** What a session reports as it goes, for metrics and tenant activity. */
export interface IngestObserver {
  eventsRejected(tenant: Tenant, count: number): void;
  /**
   * Copies of an event id already in the batch being filled: duplicates of
   * this call that never reach the database, so no batch reports them.
   */
  duplicatesInBatch(tenant: Tenant, count: number): void;
  batchWritten(tenant: Tenant, batch: WrittenBatch): void;
}

/** One observer telling each of `observers` everything, in order. */
export function combineIngestObservers(...observers: readonly IngestObserver[]): IngestObserver {
  return {
    eventsRejected: (tenant, count) => observers.forEach((observer) => observer.eventsRejected(tenant, count)),
    duplicatesInBatch: (tenant, count) => observers.forEach((observer) => observer.duplicatesInBatch(tenant, count)),
    batchWritten: (tenant, batch) => observers.forEach((observer) => observer.batchWritten(tenant, batch)),
  };
}

export interface IngestSessionDependencies {
  readonly sink: EventSink;
  readonly validator: EventValidator;
  /** Events already past their tenant's retention are rejected (none when absent). */
  readonly retention?: RetentionPolicy;
  readonly limiter: RateLimiter;
  readonly settings: Pick<IngestSettings, 'batchSize' | 'batchMaxBytes' | 'flushIntervalMs' | 'rejectedEventsListed'>;
  /** RATE_LIMIT_STREAM_MAX_WAIT: how long a stream's message may wait for event tokens. */
  readonly streamMaxWaitMs: number;
  readonly observer?: IngestObserver;
}

/**
 * How the call's events are charged to its tenant's buckets. A client
 * `stream` already took its calls token at admission, and is slowed when it
 * outruns its events bucket: a message waits for tokens (up to the stream
 * wait) before it is taken in. A `unary` call takes its calls token and its
 * events together, in one round trip to the bucket store, and is refused at
 * once when either bucket is short.
 */
export type IngestMode = 'stream' | 'unary';

/**
 * One ingest call: takes messages of events, rate-limits them, validates each
 * event, gathers the valid ones into batches and writes each batch in a
 * transaction of its own, then answers the counts once every batch is
 * committed.
 *
 * Memory is bounded by two batches: one being written while the next fills.
 * When the next one is full before the write ends, accept() waits, and the
 * caller stops reading the stream meanwhile (so HTTP/2 flow control pushes
 * back on the client). A partly filled batch of a slow stream is written after
 * the flush interval, so that events become visible while the stream goes on.
 *
 * Nothing is acknowledged before it is committed: a failed write fails the
 * call, and batches not yet committed when the call fails or is cancelled are
 * rolled back or dropped.
 */
export class IngestSession {
  private readonly tenant: Tenant;
  private lastRateLimit: RateLimitStatus | undefined;
  /** Whether a unary call has been charged its calls token. */
  private charged = false;
  private readonly controller = new AbortController();
  /** Aborted when the call is cancelled or past its deadline, or a write failed, or the session was abandoned. */
  readonly signal: AbortSignal;
  private batch: EventBatch;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;
  private timer: NodeJS.Timeout | undefined;
  private flushDue = false;
  private closed = false;
  private nextIndex = 0;
  private accepted = 0;
  private duplicates = 0;
  private rejected = 0;
  private readonly rejectedEvents: RejectedEvent[] = [];

  constructor(
    private readonly ctx: AuthenticatedContext,
    private readonly deps: IngestSessionDependencies,
    private readonly mode: IngestMode,
  ) {
    this.tenant = ctx.tenant;
    // The call's signal aborts the session's (AbortSignal.any would do it at
    // several times the cost per call, and ties both to a weak registry).
    const forward = (): void => this.controller.abort(ctx.signal.reason);
    if (ctx.signal.aborted) forward();
    else ctx.signal.addEventListener('abort', forward, { once: true });
    this.signal = this.controller.signal;
    this.batch = this.newBatch();
  }

  /**
   * The events bucket's status after the session's last take (for the
   * x-ratelimit-* metadata); undefined before any take.
   */
  get rateLimit(): RateLimitStatus | undefined {
    return this.lastRateLimit;
  }

  /**
   * Takes in one message's events. Resolves when the caller may read the next
   * message. A unary call's one message is charged even when it holds no
   * events (its calls token).
   */
  async accept(events: readonly IncomingEvent[]): Promise<void> {
    this.throwIfStopped();
    if (events.length === 0 && this.mode === 'stream') return;
    await this.admit(events.length);
    const cutoffUs = this.deps.retention?.cutoffUs(this.tenant);
    for (const event of events) {
      const index = this.nextIndex++;
      const valid = this.deps.validator.validate(event);
      if (typeof valid === 'string') {
        this.reject(index, event.eventId, valid);
      } else if (cutoffUs !== undefined && valid.timestampUs < cutoffUs) {
        this.reject(index, event.eventId, this.deps.retention!.rejection(this.tenant));
      } else if (!this.batch.add(valid)) {
        this.duplicates++;
        this.deps.observer?.duplicatesInBatch(this.tenant, 1);
      } else if (this.batch.isFull) {
        await this.makeRoom();
      }
    }
    // A unary call's finish() follows at once and writes what is left: no flush timer to arm and clear per call.
    if (!this.batch.isEmpty && this.mode === 'stream') this.armTimer();
  }

  /** Writes what is left and answers the counts once everything is committed. */
  async finish(): Promise<IngestOutcome> {
    this.clearTimer();
    while (this.inFlight !== undefined || !this.batch.isEmpty) {
      this.throwIfStopped();
      if (this.inFlight !== undefined) await this.inFlight;
      else this.startFlush();
    }
    this.throwIfStopped();
    this.closed = true;
    return { accepted: this.accepted, duplicates: this.duplicates, rejected: this.rejected, rejectedEvents: this.rejectedEvents };
  }

  /**
   * Ends a call that failed: drops the batch being filled, rolls back a write
   * in flight if it has not committed, and waits for it to settle (so that no
   * work outlives the call).
   */
  async abandon(reason: unknown): Promise<void> {
    this.closed = true;
    this.clearTimer();
    this.controller.abort(reason);
    await this.inFlight;
    // A unary call refused before its events were counted (its message was malformed, say) still
    // costs its calls token, as every admitted call does, and reports the events bucket.
    if (this.mode === 'unary' && !this.charged) await this.charge({ calls: 1 });
  }

  /** The rate limits: refuse what can never pass, wait (streams) or refuse (unary) what cannot pass yet. */
  private async admit(count: number): Promise<void> {
    const { limiter } = this.deps;
    const burst = limiter.limitsFor(this.tenant).events.capacity;
    if (count > burst) {
      if (this.mode === 'unary') await this.charge({ calls: 1 });
      const description = `a message may carry at most ${burst} events (this tenant's event burst); this one carries ${count}: split it into smaller messages`;
      throw new VaultError('INVALID_ARGUMENT', `events: ${description}`, { fieldViolations: [{ field: 'events', description }] });
    }
    if (this.mode === 'unary') {
      const refusal = await this.charge({ calls: 1, events: count });
      if (refusal) throw refusal;
      return;
    }
    await limiter.takeWaiting(this.ctx, count, {
      maxWaitMs: this.deps.streamMaxWaitMs,
      signal: this.signal,
      onTake: (take) => {
        this.lastRateLimit = take;
        if (!take.allowed) this.ctx.logger.debug({ events: count, waitMs: take.retryAfterMs }, 'stream outran its events rate limit: pausing it');
      },
    });
  }

  /** A unary call's one take (calls token and events together); returns the refusal, if any. */
  private async charge(charge: RateLimitCharge): Promise<VaultError | undefined> {
    this.charged = true;
    const decision = await this.deps.limiter.take(this.ctx, charge, 'events');
    this.lastRateLimit = decision.status;
    return decision.refusal;
  }

  private reject(index: number, eventId: string, reason: string): void {
    this.rejected++;
    this.deps.observer?.eventsRejected(this.tenant, 1);
    if (this.rejectedEvents.length < this.deps.settings.rejectedEventsListed) {
      this.rejectedEvents.push({ index, eventId: eventId.slice(0, 128), reason });
    }
  }

  /** Waits until the full batch has been handed to a write (at most one write runs at a time). */
  private async makeRoom(): Promise<void> {
    while (this.batch.isFull) {
      if (this.inFlight !== undefined) await this.inFlight;
      else this.startFlush();
      this.throwIfStopped();
    }
  }

  /** Starts writing the current batch; only called when no write is in flight. */
  private startFlush(): void {
    const batch = this.batch;
    this.batch = this.newBatch();
    this.clearTimer();
    this.flushDue = false;
    const startedAt = process.hrtime.bigint();
    this.inFlight = this.deps.sink
      .write(this.tenant.id, batch.events, { signal: this.signal, deadline: this.ctx.deadline })
      .then(
        (result) => {
          this.accepted += result.inserted;
          this.duplicates += batch.size - result.inserted;
          this.deps.observer?.batchWritten(this.tenant, { ...result, events: batch.size, seconds: Number(process.hrtime.bigint() - startedAt) / 1e9 });
        },
        (error: unknown) => {
          this.failure ??= error;
          this.controller.abort(error);
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        if (this.flushDue && !this.closed && this.failure === undefined && !this.batch.isEmpty) this.startFlush();
      });
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed || this.batch.isEmpty || this.failure !== undefined) return;
      if (this.inFlight !== undefined) this.flushDue = true;
      else this.startFlush();
    }, this.deps.settings.flushIntervalMs);
    // The call keeps the process busy, not this timer.
    this.timer.unref();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Throws why the session cannot go on: a failed write, a cancelled call, a passed deadline. */
  private throwIfStopped(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.signal.aborted) throw this.signal.reason;
  }

  private newBatch(): EventBatch {
    return new EventBatch(this.deps.settings.batchSize, this.deps.settings.batchMaxBytes);
  }
}
