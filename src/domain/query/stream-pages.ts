import type { KeysetPosition, Page, StoredEvent } from './event-reader';
import { sendInChunks, type ResponseSizing } from './fit-response';

/**
 * Reads up to `want` events after a keyset position (undefined: from the
 * first); `truncated` when the read stopped early at its bytes (more follow).
 */
export type ReadChunk = (after: KeysetPosition | undefined, want: number) => Promise<Pick<Page, 'events' | 'truncated'>>;

/**
 * What a stream's events hold of the server's memory until its client takes
 * them (the transport's GRPC_RESPONSE_BUDGET, which may end the call when
 * its client is the one that has gone longest without reading).
 */
export interface HeldBytes {
  take(bytes: number): void;
  give(bytes: number): void;
}

/** Holds nothing: for callers with no budget to report to. */
export const NOTHING_HELD: HeldBytes = { take: () => undefined, give: () => undefined };

/** Hooks around sending (metrics): called before a chunk is sent and after, whatever happened. */
export interface SendHooks {
  sending(): void;
  sent(): void;
}

/**
 * Sends every event `read` gives, in keyset order, each read cut to messages
 * of at most GRPC_MAX_RESPONSE_BYTES. Reads are sized to about one message:
 * the first asks for as many of the largest events as one message carries
 * (fewer once `maxEvents` is near; 0 = no limit), each later one for as many
 * as one message carries judged by the read before it, and none for more
 * than `chunkSize` (small events: 500 a read from the second on; events of
 * 60 KB: ~70 rather than 500, which were held in memory while message after
 * message of them waited for the client). `read` itself stops at about a
 * message of payload bytes (a read of small events followed by large ones).
 * The next read runs while the current one is being sent (so the database
 * and the network work at the same time), and no further. What a read
 * holds is reported to `held` (as encoded) from its arrival until each of
 * its messages is handed to the transport. Returns how many events were
 * sent.
 */
export async function streamPages(
  read: ReadChunk,
  chunkSize: number,
  maxEvents: number,
  responses: ResponseSizing,
  send: (events: StoredEvent[]) => Promise<void>,
  hooks?: SendHooks,
  held: HeldBytes = NOTHING_HELD,
): Promise<number> {
  const chunkAfter = (sent: number): number => (maxEvents > 0 ? Math.min(chunkSize, maxEvents - sent) : chunkSize);
  /** How many events of `bytes` bytes each one message carries, at least one. */
  const perMessage = (bytes: number): number => Math.max(1, Math.floor(responses.maxBytes / Math.max(1, bytes)));
  let sent = 0;
  let want = Math.min(chunkAfter(0), perMessage(responses.largestEventBytes));
  if (want === 0) return 0;
  // Each read is held from its arrival, while the one before it may still be waiting for the client.
  const heldRead = (after: KeysetPosition | undefined, count: number): Promise<HeldRead> =>
    read(after, count).then(({ events, truncated }) => {
      const bytes = encodedBytes(events, responses);
      held.take(bytes);
      return { events, bytes, more: events.length === count || truncated === true };
    });
  let next: Promise<HeldRead> | undefined = heldRead(undefined, want);
  while (next !== undefined) {
    const { events, bytes, more } = await next;
    next = undefined;
    let holding = bytes;
    if (events.length === 0) return sent;
    sent += events.length;
    const nextWant = Math.min(chunkAfter(sent), perMessage(bytes / events.length));
    if (more && nextWant > 0) {
      next = heldRead(positionOf(events.at(-1)!), nextWant);
      // The read ahead can fail (no connection free in time, the database gone) while the chunk before it
      // still waits for its client: it is awaited, and its error thrown, only when its turn comes. Until
      // then it must count as handled, or Node's unhandled rejection ends the process.
      next.catch(() => undefined);
    }
    want = nextWant;
    hooks?.sending();
    try {
      await sendInChunks(events, responses, send, (handedOver) => {
        held.give(handedOver);
        holding -= handedOver;
      });
    } catch (error) {
      // The read ahead fails too once the call is gone; it is awaited so that nothing outlives the call.
      const ahead = await next?.catch(() => undefined);
      if (ahead !== undefined) held.give(ahead.bytes);
      throw error;
    } finally {
      held.give(holding);
      hooks?.sent();
    }
  }
  return sent;
}

/** A read's events, the bytes they hold (as encoded), and whether more may follow. */
interface HeldRead {
  readonly events: StoredEvent[];
  readonly bytes: number;
  readonly more: boolean;
}

/** The bytes `events` take in responses (an event no response can carry counts nothing: sending it fails the call). */
function encodedBytes(events: readonly StoredEvent[], responses: ResponseSizing): number {
  let bytes = 0;
  for (const event of events) if (event.unservablePayloadBytes === undefined) bytes += responses.eventBytes(event);
  return bytes;
}

export function positionOf(event: StoredEvent): KeysetPosition {
  return { timestampUs: event.timestampUs, eventId: event.eventId };
}
