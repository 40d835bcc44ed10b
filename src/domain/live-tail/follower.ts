import { VaultError } from '../vault-error';
import type { StoredEvent } from '../query/event-reader';
import type { StoredSnapshot } from './live-tail-store';

/** A follower's buffer bounds (FOLLOW_BUFFER_MAX_EVENTS, FOLLOW_BUFFER_MAX_BYTES). */
export interface BufferLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** One commit notice's events for a follower: read once for every follower of the same filter. */
interface Entry {
  readonly xid: bigint;
  events: StoredEvent[] | undefined;
  error: unknown;
  /** What the entry counts against the bounds: events (at least 1, for the notice itself) and bytes. */
  readonly held: { events: number; bytes: number };
  /** Taken off the queue (sent, or skipped). */
  removed: boolean;
}

/**
 * FOLLOW_BUFFERS_MAX_BYTES: the bytes of new events all of an instance's
 * followers together hold for clients that have not read them.
 * FOLLOW_BUFFER_MAX_BYTES bounds one follower, but followers of different
 * filters (a start time a microsecond apart is another filter) each read
 * their own copy of the same events, so one tenant with many follow calls
 * whose clients read nothing could make the server hold FOLLOW_BUFFER_MAX_BYTES
 * times their number, well past the process's memory. Past this budget the
 * follower holding the most fails with RESOURCE_EXHAUSTED naming it (the
 * slowest client goes first; a client that keeps up holds next to nothing).
 * Bytes are counted per follower, so followers sharing one read count it
 * each time: an overcount, never an undercount.
 */
export class FollowBuffers {
  private held = 0;
  private readonly followers = new Set<Follower>();

  constructor(readonly maxBytes: number) {}

  get heldBytes(): number {
    return this.held;
  }

  join(follower: Follower): void {
    this.followers.add(follower);
  }

  /** A follower that is failing or closing: what it still holds goes back. */
  leave(follower: Follower): void {
    if (this.followers.delete(follower)) this.held -= follower.held.bytes;
  }

  shrank(bytes: number): void {
    this.held -= bytes;
  }

  /** A follower took `bytes` more: past the budget, the followers holding the most fail until it fits. */
  grew(bytes: number): void {
    this.held += bytes;
    while (this.held > this.maxBytes) {
      let largest: Follower | undefined;
      for (const follower of this.followers) if (largest === undefined || follower.held.bytes > largest.held.bytes) largest = follower;
      if (largest === undefined || largest.held.bytes === 0) return;
      largest.fail(
        new VaultError(
          'RESOURCE_EXHAUSTED',
          `the follower fell behind: this server's follow calls hold ${this.held} bytes of new events their clients have not read (FOLLOW_BUFFERS_MAX_BYTES is ${this.maxBytes}), and this one the most (${largest.held.bytes}); read faster, narrow the filter, or follow again with the same filter and drop the events already received (docs/api.md, "Resuming a follow")`,
        ),
      );
    }
  }
}

/**
 * One follow call's queue of new events, in commit order. The hub pushes a
 * read (shared with the other followers of the same filter) for each commit
 * notice the follower may not have seen yet; the call takes them with
 * next(). Events of a transaction that the stored part's snapshot included
 * were already sent, and are skipped. The queue is bounded: a follower
 * whose client does not keep up fails with RESOURCE_EXHAUSTED instead of
 * holding more (dropping would lose events).
 */
export class Follower {
  private readonly entries: Entry[] = [];
  private heldEvents = 0;
  private heldBytes = 0;
  private snapshotOf: StoredSnapshot | undefined;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private failedPromise: Promise<never> | undefined;
  private rejectFailed: ((error: unknown) => void) | undefined;

  constructor(
    private readonly limits: BufferLimits,
    private readonly eventBytes: (event: StoredEvent) => number,
    /** Called once, when the follower fails or is closed. */
    private readonly onDone: () => void,
    /** The instance's FOLLOW_BUFFERS_MAX_BYTES (none: this follower's own bounds only). */
    private readonly buffers?: FollowBuffers,
  ) {
    buffers?.join(this);
  }

  /** The snapshot the stored part was read in, once known. */
  get snapshot(): StoredSnapshot | undefined {
    return this.snapshotOf;
  }

  set snapshot(snapshot: StoredSnapshot) {
    this.snapshotOf = snapshot;
    // Entries already queued for transactions the stored part included are dropped now rather than read.
    for (let i = this.entries.length - 1; i >= 0; i--) if (snapshot.includes(this.entries[i]!.xid)) this.release(this.entries.splice(i, 1)[0]!);
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Whether a notice of transaction `xid` may carry events this follower has not been sent. */
  wants(xid: bigint): boolean {
    return this.failure === undefined && !(this.snapshotOf?.includes(xid) ?? false);
  }

  /** Queues the events of transaction `xid`, which `read` will give. */
  push(xid: bigint, read: Promise<StoredEvent[]>): void {
    if (this.failure !== undefined) return;
    const entry: Entry = { xid, events: undefined, error: undefined, held: { events: 0, bytes: 0 }, removed: false };
    this.entries.push(entry);
    this.hold(entry, 1, 0);
    read.then(
      (events) => {
        if (entry.removed || this.failure !== undefined) return;
        entry.events = events;
        let bytes = 0;
        for (const event of events) bytes += this.eventBytes(event);
        this.hold(entry, Math.max(0, events.length - 1), bytes);
        this.wake?.();
      },
      (error: unknown) => {
        entry.error = error;
        this.wake?.();
      },
    );
  }

  /** The next transaction's events (possibly none match); rejects when the follower failed or `signal` aborts. */
  async next(signal: AbortSignal): Promise<StoredEvent[]> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      signal.throwIfAborted();
      const head = this.entries[0];
      if (head !== undefined && (head.events !== undefined || head.error !== undefined)) {
        this.entries.shift();
        this.release(head);
        if (head.error !== undefined) throw head.error;
        if (this.snapshotOf?.includes(head.xid)) continue;
        return head.events!;
      }
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          signal.removeEventListener('abort', onAbort);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Ends the follower with `error` (its next() and whenFailed reject with it). Idempotent. */
  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.buffers?.leave(this);
    this.entries.length = 0;
    this.heldEvents = 0;
    this.heldBytes = 0;
    this.wake?.();
    this.rejectFailed?.(error);
    this.onDone();
  }

  /** Rejects once the follower fails (a slow client, a lost listener), so that a send held by flow control can give up. */
  whenFailed(): Promise<never> {
    if (this.failedPromise === undefined) {
      this.failedPromise = new Promise<never>((_resolve, reject) => {
        if (this.failure !== undefined) reject(this.failure);
        else this.rejectFailed = reject;
      });
      this.failedPromise.catch(() => undefined);
    }
    return this.failedPromise;
  }

  /** The call ended: the follower is let go (no error to anyone). */
  close(): void {
    this.fail(new VaultError('CANCELLED', 'the follow call ended'));
  }

  /** Events and bytes held, for tests and metrics. */
  get held(): { events: number; bytes: number } {
    return { events: this.heldEvents, bytes: this.heldBytes };
  }

  private hold(entry: Entry, events: number, bytes: number): void {
    entry.held.events += events;
    entry.held.bytes += bytes;
    this.heldEvents += events;
    this.heldBytes += bytes;
    this.buffers?.grew(bytes);
    if (this.failure !== undefined) return;
    // One entry is always accepted, whatever its size: a transaction's events can always be sent on their own.
    if (this.entries.length > 1 && (this.heldEvents > this.limits.maxEvents || this.heldBytes > this.limits.maxBytes)) {
      const [limit, value] = this.heldEvents > this.limits.maxEvents ? [`FOLLOW_BUFFER_MAX_EVENTS is ${this.limits.maxEvents}`, `${this.heldEvents} events`] : [`FOLLOW_BUFFER_MAX_BYTES is ${this.limits.maxBytes}`, `${this.heldBytes} bytes`];
      this.fail(
        new VaultError('RESOURCE_EXHAUSTED', `the follower fell behind: ${value} of new events wait for the client to read them (${limit}); read faster, narrow the filter, or follow again with the same filter and drop the events already received (docs/api.md, "Resuming a follow")`),
      );
    }
  }

  private release(entry: Entry): void {
    entry.removed = true;
    // A failed follower gave back all it held at once.
    if (this.failure !== undefined) return;
    this.heldEvents -= entry.held.events;
    this.heldBytes -= entry.held.bytes;
    this.buffers?.shrank(entry.held.bytes);
  }
}
