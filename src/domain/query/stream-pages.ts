import type { KeysetPosition, StoredEvent } from './event-reader';
import { sendInChunks, type ResponseSizing } from './fit-response';

/** Reads up to `want` events after a keyset position (undefined: from the first). */
export type ReadChunk = (after: KeysetPosition | undefined, want: number) => Promise<StoredEvent[]>;

/** Hooks around sending (metrics): called before a chunk is sent and after, whatever happened. */
export interface SendHooks {
  sending(): void;
  sent(): void;
}

/**
 * Sends every event `read` gives, in keyset order, `chunkSize` events per
 * read (fewer once `maxEvents` is near; 0 = no limit), each read cut to
 * messages of at most GRPC_MAX_RESPONSE_BYTES. The next chunk is read while
 * the current one is being sent (so the database and the network work at
 * the same time), and no further: memory stays at about two chunks whatever
 * the result size. Returns how many events were sent.
 */
export async function streamPages(read: ReadChunk, chunkSize: number, maxEvents: number, responses: ResponseSizing, send: (events: StoredEvent[]) => Promise<void>, hooks?: SendHooks): Promise<number> {
  const chunkAfter = (sent: number): number => (maxEvents > 0 ? Math.min(chunkSize, maxEvents - sent) : chunkSize);
  let sent = 0;
  let want = chunkAfter(0);
  if (want === 0) return 0;
  let next: Promise<StoredEvent[]> | undefined = read(undefined, want);
  while (next !== undefined) {
    const events = await next;
    next = undefined;
    if (events.length === 0) return sent;
    sent += events.length;
    const nextWant = chunkAfter(sent);
    if (events.length === want && nextWant > 0) next = read(positionOf(events.at(-1)!), nextWant);
    want = nextWant;
    hooks?.sending();
    try {
      await sendInChunks(events, responses, send);
    } catch (error) {
      // The read ahead fails too once the call is gone; it is awaited so that nothing outlives the call.
      await next?.catch(() => undefined);
      throw error;
    } finally {
      hooks?.sent();
    }
  }
  return sent;
}

export function positionOf(event: StoredEvent): KeysetPosition {
  return { timestampUs: event.timestampUs, eventId: event.eventId };
}
