import type { BucketSpec } from './token-bucket-store';

/** A place in a WaitLine. */
export interface WaitTicket {
  /** Tokens this waiter wants. */
  readonly count: number;
}

interface Place extends WaitTicket {
  /** Wakes the waiter when it becomes first in line. */
  wake: (() => void) | undefined;
}

/**
 * The callers waiting for one bucket's tokens, in arrival order: only the
 * first in line takes, the others wait for their turn.
 *
 * Without a line, every waiter retries its take when its own delay is up and
 * whichever happens to try first wins: with many streams on one tenant, some
 * lose again and again and give up although the tenant's rate would have
 * served them all well within their wait. The line also knows what those
 * ahead want, so a newcomer can tell at once whether its turn can come in time.
 */
export class WaitLine {
  private readonly places: Place[] = [];
  /** The bucket's tokens after the last take made from this line, and when. */
  private seen: { tokens: number; atMs: number } | undefined;

  get length(): number {
    return this.places.length;
  }

  /** Tokens wanted by everyone in line. */
  tokensWanted(): number {
    return this.places.reduce((sum, place) => sum + place.count, 0);
  }

  /** Records what the bucket held after a take. */
  saw(tokens: number, atMs: number): void {
    this.seen = { tokens, atMs };
  }

  /**
   * How long until `count` more tokens, after everything the line already
   * wants, would be in the bucket: the last seen tokens refilled at the
   * bucket's rate since. 0 when the line is empty.
   */
  etaMs(spec: BucketSpec, count: number, nowMs: number): number {
    if (this.places.length === 0) return 0;
    const seen = this.seen ?? { tokens: 0, atMs: nowMs };
    const tokens = Math.min(spec.capacity, seen.tokens + (Math.max(0, nowMs - seen.atMs) / 1000) * spec.refillPerSecond);
    return Math.max(0, ((this.tokensWanted() + count - tokens) / spec.refillPerSecond) * 1000);
  }

  /** Joins the end of the line. */
  join(count: number): WaitTicket {
    const place: Place = { count, wake: undefined };
    this.places.push(place);
    return place;
  }

  /**
   * Resolves true once `ticket` is first in line, false when `untilMs` comes
   * first; rejects with the signal's reason when it aborts. The ticket stays
   * in line either way: leave() it.
   */
  turn(ticket: WaitTicket, untilMs: number, signal: AbortSignal): Promise<boolean> {
    const place = ticket as Place;
    if (this.places[0] === place) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const settle = (): void => {
        place.wake = undefined;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        settle();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        settle();
        resolve(false);
      }, Math.max(0, untilMs - Date.now()));
      place.wake = () => {
        settle();
        resolve(true);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Leaves the line (served, given up or cancelled), and wakes whoever is first now. */
  leave(ticket: WaitTicket): void {
    const index = this.places.indexOf(ticket as Place);
    if (index === -1) return;
    this.places.splice(index, 1);
    if (index === 0) this.places[0]?.wake?.();
  }
}
