import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { StreamEventsRequest, type QueryServiceClient, type StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { eventually, withKey } from './test-server';

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** A StreamEvents call with follow set, read as fast as messages come. */
export interface FollowCall {
  /** Every event received so far, in order. */
  readonly events: Event[];
  /** Settles when the call ends: undefined for OK, else its error. */
  readonly ended: Promise<ServiceError | undefined>;
  /** Waits until at least `count` events have come (fails after `timeoutMs`, or at once if the call ended first). */
  waitForCount(count: number, timeoutMs?: number): Promise<void>;
  cancel(): void;
}

export function follow(client: QueryServiceClient, key: string, request: DeepPartial<StreamEventsRequest> = {}, deadlineMs?: number): FollowCall {
  const events: Event[] = [];
  const call: ClientReadableStream<StreamEventsResponse> = client.streamEvents(
    StreamEventsRequest.fromPartial({ ...(request as object), follow: true } as never),
    withKey(key),
    deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + deadlineMs) },
  );
  let done: ServiceError | undefined | null = null;
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    call.on('data', (message: StreamEventsResponse) => events.push(...message.events));
    call.on('error', (error: ServiceError) => {
      done = error;
      resolve(error);
    });
    call.on('end', () => {
      done ??= undefined;
      resolve(undefined);
    });
  });
  return {
    events,
    ended,
    waitForCount: (count, timeoutMs = 30_000) =>
      eventually(() => {
        if (events.length < count && done !== null) throw new Error(`the follow call ended (${done?.message ?? 'OK'}) after ${events.length} of ${count} events`);
        expect(events.length).toBeGreaterThanOrEqual(count);
      }, timeoutMs),
    cancel: () => call.cancel(),
  };
}
