import type { AuthenticatedContext } from '../call-context';
import type { StoredEvent } from '../query/event-reader';
import type { EventFilterInput, SortOrder } from '../query/event-filter';
import { pageReadBytes, sendInChunks, type ResponseSizing } from '../query/fit-response';
import type { QueryLimits } from '../query/query-service';
import { NOTHING_HELD, streamPages, type HeldBytes, type ReadChunk } from '../query/stream-pages';
import { validateEventFilter } from '../query/validate-event-filter';
import { statementBudget } from '../statement-budget';
import { invalidArgument, VaultError } from '../vault-error';
import type { Follower } from './follower';
import type { LiveTailHub } from './live-tail-hub';
import type { LiveTailRepository } from './live-tail-store';

/** A StreamEvents call with follow set. */
export interface FollowInput {
  readonly filter: EventFilterInput | undefined;
  /** Oldest first only; the transport maps SORT_ORDER_UNSPECIFIED to it when following. */
  readonly order: SortOrder;
  /** 0 = no limit; counts stored and new events together. */
  readonly maxEvents: number;
  readonly payloadAsJson: boolean;
}

export type LiveTailLimits = Pick<QueryLimits, 'statementTimeoutMs' | 'streamChunkSize' | 'filterMaxValues' | 'payloadContainsMaxBytes' | 'payloadContainsMaxDepth'> & {
  /** FOLLOW_SLOW_CONSUMER_TIMEOUT. */
  readonly slowConsumerTimeoutMs: number;
};

/**
 * StreamEvents with follow (contract section 10): every stored match oldest
 * first, then each new match once its transaction has committed, in commit
 * order, until the call is cancelled, passes its deadline or has sent
 * max_events. The seam (docs/architecture.md, "Live tail"): the follower is
 * registered and receiving commit notices before the stored part's snapshot
 * is taken; a notice of a transaction that snapshot included is skipped, any
 * other is read and sent. So no event is missed or sent twice, whatever the
 * order in which transactions commit and whatever their events' timestamps.
 */
export class LiveTailService {
  constructor(
    private readonly hub: LiveTailHub,
    private readonly repository: LiveTailRepository,
    private readonly limits: LiveTailLimits,
    private readonly responses: ResponseSizing,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs one follow call. `live` is called once the follower receives every
   * commit notice, before the stored part is read: the transport sends the
   * response headers then, so that a call with nothing to send yet is seen
   * to be answered.
   */
  async follow(input: FollowInput, ctx: AuthenticatedContext, send: (events: StoredEvent[]) => Promise<void>, live: () => void = () => undefined, held: HeldBytes = NOTHING_HELD): Promise<void> {
    if (input.order !== 'oldest-first') throw invalidArgument('order', 'follow streams oldest first: use SORT_ORDER_OLDEST_FIRST, or leave order unset');
    if (!Number.isSafeInteger(input.maxEvents) || input.maxEvents < 0) throw invalidArgument('max_events', `must be between 0 (no limit) and ${Number.MAX_SAFE_INTEGER}`);
    const selection = { tenantId: ctx.tenant.id, filter: validateEventFilter(input.filter, this.limits), order: 'oldest-first' as const };
    ctx.signal.throwIfAborted();
    const follower = await this.hub.follow(selection, input.payloadAsJson);
    try {
      live();
      const guardedSend = (events: StoredEvent[]): Promise<void> => this.sendWhileFollowing(follower, events, send);
      let sent = 0;
      const session = await this.repository.openSnapshot(statementBudget(ctx, this.limits.statementTimeoutMs, this.now()));
      try {
        follower.snapshot = session.snapshot;
        const read: ReadChunk = (after, want) =>
          session.readPage(selection, { after, limit: want, payloadAsJson: input.payloadAsJson, countTotal: false, maxBytes: pageReadBytes(this.responses, input.payloadAsJson) });
        sent = await streamPages(read, this.limits.streamChunkSize, input.maxEvents, this.responses, guardedSend, undefined, held);
      } finally {
        await session.close();
      }
      while (input.maxEvents === 0 || sent < input.maxEvents) {
        const events = await follower.next(ctx.signal);
        const taken = input.maxEvents > 0 ? events.slice(0, input.maxEvents - sent) : events;
        await sendInChunks(taken, this.responses, guardedSend);
        sent += taken.length;
      }
    } finally {
      follower.close();
    }
  }

  /** Shutdown has begun: every follow call ends with UNAVAILABLE, and new ones are refused. */
  drain(): void {
    this.hub.drain();
  }

  /**
   * A send that gives up when the follower fails meanwhile (its buffer
   * overflowed, the listener was lost) or when the client has not taken the
   * message within FOLLOW_SLOW_CONSUMER_TIMEOUT.
   */
  private async sendWhileFollowing(follower: Follower, events: StoredEvent[], send: (events: StoredEvent[]) => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new VaultError(
          'RESOURCE_EXHAUSTED',
          `the client took no message for ${this.limits.slowConsumerTimeoutMs} ms (FOLLOW_SLOW_CONSUMER_TIMEOUT) while events waited: read faster, or follow again with the same filter and drop the events already received (docs/api.md, "Resuming a follow")`,
        );
        follower.fail(error);
        reject(error);
      }, this.limits.slowConsumerTimeoutMs);
    });
    slow.catch(() => undefined);
    try {
      await Promise.race([send(events), slow, follower.whenFailed()]);
    } finally {
      clearTimeout(timer);
    }
  }
}
