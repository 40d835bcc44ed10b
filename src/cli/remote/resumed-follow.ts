import { classify, retryDelayMs, type VaultEvent } from '@telemetry-vault/client';

/** Why a follow stream was lost, and how long until it is opened again. */
export interface FollowLoss {
  readonly error: unknown;
  /** Losses in a row with no event delivered in between (1 for the first). */
  readonly attempt: number;
  readonly delayMs: number;
}

export interface ResumedFollowOptions {
  /**
   * Whether a retryable failure of the follow opened first, before it
   * delivered any event, is reconnected too (default true). `tail` says
   * false for a first call that failed quickly: a wrong address or key
   * fails at once instead of retrying forever.
   */
  readonly reconnectFirst?: (error: unknown, openForMs: number) => boolean;
  /** Called before each reconnection (tail prints a line on stderr). */
  readonly onLoss?: (loss: FollowLoss) => void;
  /** The longest wait between reconnections (default 5 000 ms). */
  readonly maxBackoffMs?: number;
}

/** What identifies a stored event: the same event_id in two partitions (UTC days of event time) is two events. */
export function deliveredKey(event: VaultEvent): string {
  return `${event.timestamp.toISOString()} ${event.eventId}`;
}

/**
 * A live tail (StreamEvents with follow) that survives its server going away
 * (UNAVAILABLE at shutdown or when the server lost its notice connection, a
 * dropped connection), without a gap or a repeat: docs/api.md, "Resuming a
 * follow". The contract gives a follow no resume position, and new events
 * come in commit order, not by timestamp, so no timestamp bound is safe to
 * resume from (an event committed while the stream was down may carry any
 * timestamp). So each reconnection opens the same follow again, with the
 * same absolute `start_time` (open() must not move it): its stored part has
 * every match committed before its snapshot, the ones already delivered and
 * the ones committed while disconnected, and its live part every later one.
 * The keys already delivered are dropped. The cost: the delivered keys are
 * kept (about 100 bytes each), and a resume streams again the stored matches
 * since the start.
 *
 * Retryable failures follow the contract (section 8: UNAVAILABLE, ABORTED,
 * DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED with RetryInfo), with exponential
 * backoff and jitter, at least the RetryInfo delay, and no limit on
 * attempts. Any other failure ends the iteration with it.
 */
export async function* resumedFollow(open: () => AsyncIterable<VaultEvent>, options: ResumedFollowOptions = {}): AsyncGenerator<VaultEvent, void, undefined> {
  const delivered = new Set<string>();
  let losses = 0;
  for (let opened = 0; ; opened++) {
    const openedAt = Date.now();
    try {
      for await (const event of open()) {
        const key = deliveredKey(event);
        if (delivered.has(key)) continue;
        delivered.add(key);
        losses = 0;
        yield event;
      }
      return;
    } catch (error) {
      const decision = isServiceError(error) ? classify(error) : { retry: false as const };
      if (!decision.retry) throw error;
      if (opened === 0 && delivered.size === 0 && options.reconnectFirst?.(error, Date.now() - openedAt) === false) throw error;
      losses++;
      const delayMs = retryDelayMs(losses, decision.retryInfoMs, { initialBackoffMs: 200, maxBackoffMs: options.maxBackoffMs ?? 5000 });
      options.onLoss?.({ error, attempt: losses, delayMs });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function isServiceError(error: unknown): error is Parameters<typeof classify>[0] {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number' && 'metadata' in error;
}
