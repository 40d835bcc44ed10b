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
  /**
   * The most delivered keys kept (default RESUME_KEYS_MAX). Past it, the
   * earlier half is forgotten, and reconnections resume from just after the
   * newest timestamp forgotten (see resumedFollow); onForget says so.
   */
  readonly maxKeys?: number;
  /** Called when keys are forgotten, with the time later reconnections resume from. */
  readonly onForget?: (resumeFrom: Date, maxKeys: number) => void;
}

/** ResumedFollowOptions.maxKeys's default: about 100 MB of keys. */
export const RESUME_KEYS_MAX = 1_000_000;

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
 * Memory stays bounded: past `maxKeys` delivered keys, the earlier half
 * (in delivery order) is forgotten, and with it every key at or before the
 * newest timestamp forgotten; reconnections then open the follow from just
 * after that timestamp (open(resumeFrom)), so nothing forgotten is sent
 * again. From then on a resume is exact for events timestamped after
 * resumeFrom; one committed while disconnected with an older timestamp is
 * missed (docs/api.md, "Resuming a follow").
 *
 * Retryable failures follow the contract (section 8: UNAVAILABLE, ABORTED,
 * DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED with RetryInfo), with exponential
 * backoff and jitter, at least the RetryInfo delay, and no limit on
 * attempts. Any other failure ends the iteration with it.
 */
export async function* resumedFollow(open: (resumeFrom?: Date) => AsyncIterable<VaultEvent>, options: ResumedFollowOptions = {}): AsyncGenerator<VaultEvent, void, undefined> {
  const maxKeys = options.maxKeys ?? RESUME_KEYS_MAX;
  /** Delivered keys, in delivery order, with their timestamps (ms). */
  const delivered = new Map<string, number>();
  let resumeFrom: Date | undefined;
  let losses = 0;
  for (let opened = 0; ; opened++) {
    const openedAt = Date.now();
    try {
      for await (const event of open(resumeFrom)) {
        const key = deliveredKey(event);
        if (delivered.has(key)) continue;
        delivered.set(key, event.timestamp.getTime());
        if (delivered.size > maxKeys) {
          resumeFrom = forgetEarlierHalf(delivered);
          options.onForget?.(resumeFrom, maxKeys);
        }
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

/**
 * Forgets the earlier half of the delivered keys (delivery order), then
 * every key at or before the newest timestamp among them, and returns the
 * instant after it: a follow opened from there sends none of the keys
 * forgotten (VaultEvent timestamps have millisecond precision).
 */
function forgetEarlierHalf(delivered: Map<string, number>): Date {
  let newest = -Infinity;
  let forget = Math.floor(delivered.size / 2);
  for (const [key, ms] of delivered) {
    if (forget-- <= 0) break;
    newest = Math.max(newest, ms);
    delivered.delete(key);
  }
  for (const [key, ms] of delivered) if (ms <= newest) delivered.delete(key);
  return new Date(newest + 1);
}

function isServiceError(error: unknown): error is Parameters<typeof classify>[0] {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number' && 'metadata' in error;
}
