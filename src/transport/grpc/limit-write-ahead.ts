import type { Writable } from 'node:stream';

/**
 * How many response messages a server stream may queue ahead of what HTTP/2
 * has taken. grpc-js's server stream is an object-mode Writable with Node's
 * default of 16, so write() reports back-pressure only once 16 messages are
 * queued: a StreamEvents client that stops reading would have the server read
 * and hold 16 chunks of QUERY_STREAM_CHUNK_SIZE events (8000 events at the
 * defaults) before it waits. With 1, the handler waits as soon as one message
 * queues behind what the client's flow-control window lets through.
 */
export const STREAM_WRITE_AHEAD_MESSAGES = 1;

/** Lowers a server stream's write-ahead to STREAM_WRITE_AHEAD_MESSAGES (grpc-js creates the stream, so it can only be lowered after). */
export function limitWriteAhead(stream: Writable): void {
  const state = (stream as unknown as { _writableState?: { highWaterMark?: number } })._writableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = STREAM_WRITE_AHEAD_MESSAGES;
}
