/**
 * The ingest load engine shared by `npm run load` (scripts/load/load.ts) and
 * the benchmark's load generator (scripts/bench/load-generator.ts).
 *
 * Messages come from a source as bytes already encoded with the generated
 * telemetry.v1 codecs (IngestStreamRequest and IngestRequest share one
 * layout), so the caller decides whether encoding happens before the clock
 * starts (the benchmark) or as it goes (the load tool).
 */
import fs from 'node:fs';
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ClientUnaryCall, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { IngestServiceService, IngestStreamRequest, type IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { Histogram } from './histogram';

/** A message to send: its encoded bytes and how many events it carries. */
export interface EncodedMessage {
  readonly bytes: Buffer;
  readonly events: number;
}

/** Encodes events (telemetry.v1.Event objects) as one IngestStreamRequest / IngestRequest. */
export function encodeMessage(events: Event[]): EncodedMessage {
  const bytes = IngestStreamRequest.encode({ events }).finish();
  return { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), events: events.length };
}

type IngestCallback = (error: ServiceError | null, response: IngestResponse) => void;

/** The generated IngestService's calls, taking requests as encoded bytes. */
export interface IngestClient extends Client {
  ingestStream(metadata: Metadata, callback: IngestCallback): ClientWritableStream<Buffer>;
  ingest(request: Buffer, metadata: Metadata, callback: IngestCallback): ClientUnaryCall;
}

export interface IngestClientOptions {
  readonly tls?: boolean;
  /** A PEM file of the CA to trust (with `tls`). */
  readonly caFile?: string | undefined;
}

/**
 * A client of the generated IngestService definition that sends requests as
 * they come (already encoded bytes) and decodes responses with the generated
 * code.
 */
export function createIngestClient(target: string, { tls = false, caFile }: IngestClientOptions = {}): IngestClient {
  const passThrough = (bytes: Buffer): Buffer => bytes;
  const Client = makeGenericClientConstructor(
    {
      ingestStream: { ...IngestServiceService.ingestStream, requestSerialize: passThrough },
      ingest: { ...IngestServiceService.ingest, requestSerialize: passThrough },
    },
    'telemetry.v1.IngestService',
  );
  const channel = tls ? credentials.createSsl(caFile ? fs.readFileSync(caFile) : undefined) : credentials.createInsecure();
  return new Client(target, channel, { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 }) as unknown as IngestClient;
}

/** What happened since the last `take()`. */
export interface LoadWindow {
  events: number;
  readonly latency: Histogram;
}

/** Counters and latencies of a run; `take()` gives what happened since the last take (for progress lines). */
export class LoadStats {
  events = 0;
  accepted = 0;
  duplicates = 0;
  rejected = 0;
  calls = 0;
  readonly codes: Record<string, number> = {};
  readonly latency = new Histogram();
  private window: LoadWindow = { events: 0, latency: new Histogram() };

  ok(response: IngestResponse, latencyMs: number): void {
    const events = Number(response.accepted) + Number(response.duplicates) + Number(response.rejected);
    this.events += events;
    this.accepted += Number(response.accepted);
    this.duplicates += Number(response.duplicates);
    this.rejected += Number(response.rejected);
    this.window.events += events;
    this.call('OK', latencyMs);
  }

  failed(error: ServiceError, latencyMs: number): void {
    this.call((status as unknown as Record<number, string>)[error.code] ?? String(error.code), latencyMs);
  }

  private call(code: string, latencyMs: number): void {
    this.calls++;
    this.codes[code] = (this.codes[code] ?? 0) + 1;
    this.latency.record(latencyMs);
    this.window.latency.record(latencyMs);
  }

  take(): LoadWindow {
    const window = this.window;
    this.window = { events: 0, latency: new Histogram() };
    return window;
  }
}

function metadataFor(key: string, requestId?: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  if (requestId) metadata.set('x-request-id', requestId);
  return metadata;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Resolves when the call can take more ('drain') or has ended ('status'): a failed call never drains. */
function writable(call: ClientWritableStream<Buffer>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('status', done);
      resolve();
    };
    call.on('drain', done);
    call.on('status', done);
  });
}

/**
 * Paces one worker at `eventsPerSecond` (0 = no pacing): `due(events)` is the
 * time the next message of that many events should leave. Lateness is not
 * forgiven, so latencies measured from `due` include time spent waiting
 * behind a slow server (no coordinated omission).
 */
function pacer(eventsPerSecond: number, startedAt: number, phase: number): (events: number) => number {
  let sent: number | undefined;
  return (events) => {
    // Workers start a fraction `phase` of a message's interval apart, so that
    // together they send evenly instead of all at the same instants.
    sent ??= phase * events;
    const due = eventsPerSecond > 0 ? startedAt + (sent / eventsPerSecond) * 1000 : performance.now();
    sent += events;
    return due;
  };
}

export interface IngestLoadOptions {
  /** IngestStream calls, or unary Ingest calls (one message each, open loop). */
  readonly mode: 'stream' | 'unary';
  /** Concurrent streams (stream mode) or independent senders (unary mode). */
  readonly workers: number;
  /** Total target rate over all workers; 0 = as fast as the server takes them. */
  readonly eventsPerSecond: number;
  /** Messages per IngestStream call (stream mode; default 10). */
  readonly messagesPerCall?: number;
  /** Unary calls in flight per worker at most (unary mode; default 1000; 1 makes each worker a closed loop). */
  readonly maxInFlight?: number;
  /** Stop starting new messages after this long (default: when the sources end). */
  readonly durationMs?: number | undefined;
  /** The worker's next message; undefined when its source is exhausted. */
  readonly next: (worker: number) => EncodedMessage | undefined;
  /** The API key a worker uses. */
  readonly keyFor: (worker: number) => string;
  /** Where to count (to print progress while it runs). */
  readonly stats?: LoadStats;
}

type Settings = IngestLoadOptions & { readonly messagesPerCall: number; readonly maxInFlight: number };

/**
 * One client stream worker: calls of up to `messagesPerCall` messages, each
 * written as flow control allows; the latency of a call runs from its first
 * message's due time to the response.
 */
async function streamWorker(client: IngestClient, options: Settings, worker: number, stats: LoadStats, shouldStop: () => boolean): Promise<void> {
  const due = pacer(options.eventsPerSecond / options.workers, performance.now(), worker / options.workers);
  for (let callIndex = 0; !shouldStop(); callIndex++) {
    let message = options.next(worker);
    if (message === undefined) return;
    const firstDue = due(message.events);
    await sleep(firstDue - performance.now());
    let finished = false;
    const writeMessages = async (call: ClientWritableStream<Buffer>): Promise<void> => {
      for (let sent = 0; message !== undefined && !finished; ) {
        if (!call.write(message.bytes)) await writable(call);
        if (finished || ++sent >= options.messagesPerCall || shouldStop()) break;
        message = options.next(worker);
        if (message !== undefined) await sleep(due(message.events) - performance.now());
      }
      call.end();
    };
    const outcome = new Promise<{ error: ServiceError | null; response: IngestResponse }>((resolve) => {
      const call = client.ingestStream(metadataFor(options.keyFor(worker), `load-${worker}-${callIndex}`), (error, response) => {
        finished = true;
        resolve({ error, response });
      });
      void writeMessages(call);
    });
    const { error, response } = await outcome;
    const latencyMs = performance.now() - firstDue;
    if (error) {
      stats.failed(error, latencyMs);
      await sleep(backoffMs(error));
    } else {
      stats.ok(response, latencyMs);
    }
  }
}

/**
 * One unary worker, open loop: each message is its own Ingest call, sent when
 * due whether or not earlier calls have answered (at most `maxInFlight` at
 * once; past that the worker waits, and the wait counts in the latencies).
 * Unpaced (`eventsPerSecond` 0) there is no schedule to fall behind: a call's
 * latency runs from when it leaves, so that with `maxInFlight` 1 (a closed
 * loop) it is the call's own.
 */
async function unaryWorker(client: Pick<IngestClient, 'ingest'>, options: Settings, worker: number, stats: LoadStats, shouldStop: () => boolean): Promise<void> {
  const due = pacer(options.eventsPerSecond / options.workers, performance.now(), worker / options.workers);
  const inFlight = new Set<Promise<void>>();
  for (let callIndex = 0; !shouldStop(); callIndex++) {
    const message = options.next(worker);
    if (message === undefined) break;
    const dueAt = due(message.events);
    await sleep(dueAt - performance.now());
    while (inFlight.size >= options.maxInFlight) await Promise.race(inFlight);
    const sendAt = options.eventsPerSecond > 0 ? dueAt : performance.now();
    const call = new Promise<void>((resolve) => {
      client.ingest(message.bytes, metadataFor(options.keyFor(worker), `load-${worker}-${callIndex}`), (error, response) => {
        const latencyMs = performance.now() - sendAt;
        if (error) stats.failed(error, latencyMs);
        else stats.ok(response, latencyMs);
        resolve();
      });
    });
    inFlight.add(call);
    void call.then(() => inFlight.delete(call));
  }
  await Promise.all(inFlight);
}

/** How long a worker waits after a failed call: the server's retry-after when it gave one, else a short pause. */
function backoffMs(error: ServiceError): number {
  const retryAfter = Number(error.metadata?.get('retry-after')?.[0]);
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter * 1000, 5000);
  return error.code === status.UNAUTHENTICATED || error.code === status.INVALID_ARGUMENT ? 1000 : 100;
}

/** Runs ingest load until the sources are exhausted or `durationMs` passes. */
export async function runIngestLoad(client: IngestClient | Pick<IngestClient, 'ingest'>, options: IngestLoadOptions): Promise<{ stats: LoadStats; elapsedMs: number }> {
  const settings: Settings = { messagesPerCall: 10, maxInFlight: 1000, ...options };
  if (settings.mode === 'stream' && !('ingestStream' in client)) throw new Error('stream mode needs a client with IngestStream');
  const stats = settings.stats ?? new LoadStats();
  const startedAt = performance.now();
  const shouldStop = (): boolean => settings.durationMs !== undefined && performance.now() - startedAt >= settings.durationMs;
  await Promise.all(
    Array.from({ length: settings.workers }, (_, index) =>
      settings.mode === 'unary' ? unaryWorker(client, settings, index, stats, shouldStop) : streamWorker(client as IngestClient, settings, index, stats, shouldStop),
    ),
  );
  return { stats, elapsedMs: performance.now() - startedAt };
}
