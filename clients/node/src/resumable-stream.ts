import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Timestamp } from './gen/google/protobuf/timestamp';
import type { Event as WireEvent } from './gen/telemetry/v1/event';
import { SortOrder, type StreamEventsRequest, type StreamEventsResponse } from './gen/telemetry/v1/query_service';
import { queryRetryDelay, type QueryRetryOptions } from './query-retry';

/** The events yielded last that share one timestamp: what a resumed stream sends again first. */
interface Seam {
  readonly timestamp: Timestamp;
  readonly eventIds: Set<string>;
}

/**
 * StreamEvents with the contract's retries (docs/sdk.md, "Query retries"). A
 * failed attempt is resumed after the last event yielded, never repeating or
 * skipping one: the retry asks for the same filter narrowed to start (oldest
 * first) or end (newest first) at that event's timestamp, inclusive, and
 * drops the events of that timestamp already yielded (the seam), by event id.
 * `max_events` is reduced by the events yielded, plus the seam's that come
 * again. With `follow`, new events come in commit order, not by timestamp, so
 * such a stream is retried only until its first event.
 *
 * `deadline` (ms since the epoch) bounds the whole stream, all attempts.
 */
export async function* resumableEvents(
  request: StreamEventsRequest,
  open: (request: StreamEventsRequest, deadline: Date | undefined) => ClientReadableStream<StreamEventsResponse>,
  options: QueryRetryOptions,
  deadline: number | undefined,
): AsyncGenerator<WireEvent, void, undefined> {
  const newestFirst = request.order !== SortOrder.SORT_ORDER_OLDEST_FIRST && !request.follow;
  let seam: Seam | undefined;
  let yielded = 0;
  let attempt = 1;
  for (;;) {
    const call = open(seam === undefined ? request : resumeAfter(request, seam, yielded, newestFirst), deadline === undefined ? undefined : new Date(deadline));
    let progressed = false;
    try {
      for await (const chunk of call as AsyncIterable<StreamEventsResponse>) {
        for (const event of chunk.events) {
          const timestamp = event.timestamp ?? { seconds: 0, nanos: 0 };
          if (seam !== undefined && sameInstant(seam.timestamp, timestamp)) {
            if (seam.eventIds.has(event.eventId)) continue;
            seam.eventIds.add(event.eventId);
          } else {
            seam = { timestamp, eventIds: new Set([event.eventId]) };
          }
          yielded++;
          progressed = true;
          yield event;
        }
      }
      return;
    } catch (error) {
      if (progressed) attempt = 1;
      const resumable = !(request.follow && yielded > 0);
      const delayMs = resumable ? queryRetryDelay(error, 'StreamEvents', attempt, options, deadline) : undefined;
      if (delayMs === undefined) throw error;
      attempt++;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    } finally {
      // Leaving the loop early (break, throw) cancels the call.
      call.cancel();
    }
  }
}

function resumeAfter(request: StreamEventsRequest, seam: Seam, yielded: number, newestFirst: boolean): StreamEventsRequest {
  const filter = { startTime: undefined, endTime: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined, ...request.filter };
  if (newestFirst) {
    // end_time is exclusive: one microsecond (the stored precision) past the seam keeps the seam in.
    const end = { seconds: seam.timestamp.seconds + Math.floor((seam.timestamp.nanos + 1000) / 1e9), nanos: (seam.timestamp.nanos + 1000) % 1e9 };
    if (filter.endTime === undefined || compareInstants(end, filter.endTime) < 0) filter.endTime = end;
  } else if (filter.startTime === undefined || compareInstants(seam.timestamp, filter.startTime) > 0) {
    filter.startTime = seam.timestamp;
  }
  const maxEvents = request.maxEvents > 0 ? request.maxEvents - yielded + seam.eventIds.size : 0;
  return { ...request, filter, maxEvents };
}

function sameInstant(a: Timestamp, b: Timestamp): boolean {
  return a.seconds === b.seconds && a.nanos === b.nanos;
}

function compareInstants(a: Timestamp, b: Timestamp): number {
  return a.seconds - b.seconds || a.nanos - b.nanos;
}
