import { VaultError } from '../vault-error';
import type { StoredEvent } from './event-reader';

/**
 * How large responses may be, and how large an event is in one (the
 * transport's encoding; the domain only adds sizes up).
 */
export interface ResponseSizing {
  /** GRPC_MAX_RESPONSE_BYTES: no page or chunk message is larger. */
  readonly maxBytes: number;
  /** The bytes `event` takes inside a page or chunk message, its field tag and length included. */
  eventBytes(event: StoredEvent): number;
  /** The most one event can take in a response (a payload of INGEST_MAX_PAYLOAD_BYTES read as a Struct). */
  readonly largestEventBytes: number;
}

/** Room kept in a stream chunk for other fields: a chunk has none, a little room all the same. */
export const STREAM_FIELDS_RESERVE = 16;

/**
 * How many of `events`, from the first, fit in `budget` bytes. The first
 * always fits or fails the call: an event that no response can carry (its
 * payload stored before the stored form was bounded) is FAILED_PRECONDITION,
 * for this call only.
 */
export function fittingCount(events: readonly StoredEvent[], budget: number, responses: ResponseSizing): number {
  return fitting(events, budget, responses).count;
}

/** fittingCount, and the bytes those events take. */
function fitting(events: readonly StoredEvent[], budget: number, responses: ResponseSizing): { count: number; bytes: number } {
  let used = 0;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const bytes = event.unservablePayloadBytes === undefined ? responses.eventBytes(event) : Number.POSITIVE_INFINITY;
    if (used + bytes <= budget) {
      used += bytes;
      continue;
    }
    if (i === 0) throw unservable(event, responses.maxBytes);
    return { count: i, bytes: used };
  }
  return { count: events.length, bytes: used };
}

/**
 * Sends `events` in as few stream chunks as GRPC_MAX_RESPONSE_BYTES allows.
 * `handedOver` is told each chunk's bytes once it is handed to the
 * transport (which counts it from there until the client has it), before
 * the send is awaited.
 */
export async function sendInChunks(events: readonly StoredEvent[], responses: ResponseSizing, send: (events: StoredEvent[]) => Promise<void>, handedOver?: (bytes: number) => void): Promise<void> {
  for (let rest = events; rest.length > 0; ) {
    const { count, bytes } = fitting(rest, responses.maxBytes - STREAM_FIELDS_RESERVE, responses);
    const sending = send(rest.slice(0, count));
    handedOver?.(bytes);
    await sending;
    rest = rest.slice(count);
  }
}

function unservable(event: StoredEvent, maxBytes: number): VaultError {
  const size = event.unservablePayloadBytes !== undefined ? `its payload alone is ${event.unservablePayloadBytes} bytes as stored` : 'it is';
  return new VaultError(
    'FAILED_PRECONDITION',
    `the stored event "${event.eventId}" (timestamp ${microsToIso(event.timestampUs)}) cannot be sent: ${size} larger than a response may be (GRPC_MAX_RESPONSE_BYTES, ${maxBytes} bytes). ` +
      'It was stored before INGEST_MAX_PAYLOAD_BYTES bounded payloads as stored. Exclude it with the filter (a time range that skips it), or ask an operator to delete it; other reads are not affected',
    { reason: 'STORED_EVENT_UNSERVABLE' },
  );
}

function microsToIso(micros: bigint): string {
  return new Date(Number(micros / 1000n)).toISOString();
}

/**
 * How many bytes of stored payload text a page reads at most: what one
 * response can carry. A payload sent as JSON text takes at least its own
 * bytes in a response; as a Struct, numbers, booleans and nulls can take
 * fewer bytes than their text (a double's up to 24 digits in 9 bytes), so
 * twice as much is read. A page whose read ran out of bytes before its
 * response did ends there (has_more, and the cursor goes on from there); a
 * stream's read goes on with the next read.
 */
export function pageReadBytes(responses: Pick<ResponseSizing, 'maxBytes'>, payloadAsJson: boolean): number {
  return payloadAsJson ? responses.maxBytes : 2 * responses.maxBytes;
}
