/**
 * The load generator's live tail jobs (StreamEvents with follow): follow
 * latency at a steady ingest rate, and ingest as fast as it goes while
 * followers read. Run in the load generator's process (load-generator.ts).
 */
import { credentials, makeGenericClientConstructor, Metadata, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import { QueryServiceService, StreamEventsRequest, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { Histogram, type LatencySummary } from '../load/histogram';
import { createIngestClient, encodeMessage } from '../load/ingest-driver';
import { benchEvent, EVENT_TYPES, toProtoEvent } from './event-shape';

interface FollowClient extends Client {
  streamEvents(request: StreamEventsRequest, metadata: Metadata): ClientReadableStream<StreamEventsResponse>;
}

function keyed(key: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  return metadata;
}

/** A follow call: `onEvent` for each event id received, as it comes. */
function openFollow(client: FollowClient, key: string, eventTypes: readonly string[], onEvent: (eventId: string) => void): { cancel(): void; failed: () => Error | undefined } {
  const call = client.streamEvents(StreamEventsRequest.fromPartial({ follow: true, filter: { eventTypes: [...eventTypes] } }), keyed(key));
  let failure: Error | undefined;
  call.on('data', (message: StreamEventsResponse) => {
    for (const event of message.events) onEvent(event.eventId);
  });
  call.on('error', (error: Error & { code?: number }) => {
    if (error.code !== 1) failure = error;
  });
  return { cancel: () => call.cancel(), failed: () => failure };
}

function followClient(target: string): FollowClient {
  const Constructor = makeGenericClientConstructor({ streamEvents: QueryServiceService.streamEvents }, 'telemetry.v1.QueryService');
  return new Constructor(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as FollowClient;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` or `timeoutMs`; returns whether it got there. */
async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

export interface FollowLatencyParams {
  readonly target: string;
  readonly key: string;
  readonly run: string;
  readonly rate: number;
  readonly batch: number;
  readonly durationMs: number;
}

export interface FollowLatencyOutcome {
  readonly events: number;
  readonly received: number;
  readonly achievedEventsPerSecond: number;
  /** From the Ingest call's acknowledgement (sent right after COMMIT) to the follower's receipt; 0 when the event came first. */
  readonly commitToReceiptMs: LatencySummary;
  /** From the Ingest call's start to the follower's receipt (an upper bound: includes the write). */
  readonly sendToReceiptMs: LatencySummary;
}

/**
 * One follower of the tenant, and unary Ingest calls of `batch` events at
 * `rate` events/s (open loop) for `durationMs`: per event, the time from its
 * call's acknowledgement, and from its call's start, to its receipt.
 */
export async function followLatency({ target, key, run, rate, batch, durationMs }: FollowLatencyParams): Promise<FollowLatencyOutcome> {
  const calls = Math.max(1, Math.round((rate * durationMs) / 1000 / batch));
  const messages = Array.from({ length: calls }, (_, call) => {
    const events = Array.from({ length: batch }, (_, i) => toProtoEvent(benchEvent(run, call * batch + i), 'json'));
    return { message: encodeMessage(events), ids: events.map((event) => event.eventId) };
  });
  const sentAt = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  const receivedAt = new Map<string, number>();
  const ingest = createIngestClient(target);
  const follows = followClient(target);
  const follower = openFollow(follows, key, EVENT_TYPES, (eventId) => receivedAt.set(eventId, performance.now()));
  try {
    // The follower is in place once a probe event reaches it.
    const probe = encodeMessage([toProtoEvent(benchEvent(`${run}-probe`, 0), 'json')]);
    const probeId = toProtoEvent(benchEvent(`${run}-probe`, 0), 'json').eventId;
    await new Promise<void>((resolve, reject) => ingest.ingest(probe.bytes, keyed(key), (error) => (error ? reject(error) : resolve())));
    if (!(await waitUntil(() => receivedAt.has(probeId), 10_000))) throw new Error(`the follower did not receive the probe event (${follower.failed()?.message ?? 'no error'})`);
    const startedAt = performance.now();
    const intervalMs = (batch / rate) * 1000;
    const pending: Promise<void>[] = [];
    for (let call = 0; call < calls; call++) {
      const due = startedAt + call * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const { message, ids } = messages[call]!;
      const at = performance.now();
      for (const id of ids) sentAt.set(id, at);
      pending.push(
        new Promise<void>((resolve, reject) =>
          ingest.ingest(message.bytes, keyed(key), (error) => {
            if (error) return reject(error);
            const acked = performance.now();
            for (const id of ids) ackedAt.set(id, acked);
            resolve();
          }),
        ),
      );
    }
    await Promise.all(pending);
    const elapsedMs = performance.now() - startedAt;
    const events = calls * batch;
    await waitUntil(() => receivedAt.size >= events + 1, 10_000);
    const commitToReceipt = new Histogram();
    const sendToReceipt = new Histogram();
    for (const [id, sent] of sentAt) {
      const received = receivedAt.get(id);
      if (received === undefined) continue;
      commitToReceipt.record(Math.max(0, received - ackedAt.get(id)!));
      sendToReceipt.record(received - sent);
    }
    return { events, received: receivedAt.size - 1, achievedEventsPerSecond: events / (elapsedMs / 1000), commitToReceiptMs: commitToReceipt.summary(), sendToReceiptMs: sendToReceipt.summary() };
  } finally {
    follower.cancel();
    ingest.close();
    follows.close();
  }
}

/**
 * What followers received while `work` ran: fewest and most events per
 * follower that followed to the end (equal when each got them all), and how
 * many the server ended as slow consumers (RESOURCE_EXHAUSTED past
 * FOLLOW_BUFFER_MAX_EVENTS: the designed answer to a client that cannot
 * read as fast as the tenant writes, here 50 followers in one process).
 */
export interface FollowersOutcome<T> {
  readonly result: T;
  readonly receivedMin: number;
  readonly receivedMax: number;
  readonly cutOff: number;
}

const RESOURCE_EXHAUSTED = 8;

/**
 * Runs `work` while `followers` follow `key`'s tenant, all with one filter
 * (event type "log"), between a probe event and a marker event (neither
 * counted) that every follower must receive.
 */
export async function withFollowers<T>(target: string, key: string, followers: number, run: string, work: () => Promise<T>): Promise<FollowersOutcome<T>> {
  if (followers === 0) return { result: await work(), receivedMin: 0, receivedMax: 0, cutOff: 0 };
  const follows = followClient(target);
  const ingest = createIngestClient(target);
  const received = Array.from({ length: followers }, () => 0);
  const seen = received.map(() => new Set<string>());
  const calls = received.map((_, i) =>
    openFollow(follows, key, ['log'], (eventId) => {
      received[i]!++;
      if (eventId.startsWith(`${run}-probe`) || eventId.startsWith(`${run}-marker`)) seen[i]!.add(eventId);
    }),
  );
  const sendMarker = async (name: string): Promise<void> => {
    const marker = { ...toProtoEvent(benchEvent(`${run}-${name}`, 0), 'json'), eventType: 'log' };
    await new Promise<void>((resolve, reject) => ingest.ingest(encodeMessage([marker]).bytes, keyed(key), (error) => (error ? reject(error) : resolve())));
    // A follower ended as a slow consumer is counted (cutOff), not waited for; any other failure ends the run.
    const failed = (): Error | undefined => calls.map((call) => call.failed()).find((error) => error !== undefined && !isCutOff(error));
    const waiting = (): boolean => seen.some((ids, i) => !ids.has(marker.eventId) && calls[i]!.failed() === undefined);
    if (!(await waitUntil(() => !waiting() || failed() !== undefined, 60_000)) || failed()) {
      throw new Error(`the followers did not all receive the ${name} event (${failed()?.message ?? 'no error'})`);
    }
  };
  try {
    // A probe first: every follower is in place. A marker last: notices come in commit order, so a follower that has it has all before it.
    await sendMarker('probe');
    const result = await work();
    await sendMarker('marker');
    const followed = received.filter((_, i) => calls[i]!.failed() === undefined);
    const cutOff = followers - followed.length;
    if (followed.length === 0) return { result, receivedMin: 0, receivedMax: 0, cutOff };
    return { result, receivedMin: Math.min(...followed) - 2, receivedMax: Math.max(...followed) - 2, cutOff };
  } finally {
    for (const call of calls) call.cancel();
    ingest.close();
    follows.close();
  }
}

/** The server ended the follow as a slow consumer (FOLLOW_BUFFER_MAX_EVENTS). */
function isCutOff(error: Error & { code?: number }): boolean {
  return error.code === RESOURCE_EXHAUSTED;
}
