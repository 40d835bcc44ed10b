import { status, type ClientWritableStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Event as WireEvent } from './gen/telemetry/v1/event';
import type { IngestStreamResponse } from './gen/telemetry/v1/ingest_service';
import { encodeEventInput, type EventInput } from './convert';
import { createFrameEncoder, decodeEventFrame, messageBytes, type FrameEncoder, type FramedIngestClient } from './encode-event';
import { classify, isServiceError, retryDelayMs, retryInfoDelayMs, type BackoffOptions } from './retry';
import { appendRun, createRunQueue, drainRuns, eventsIn, joinRuns, peekRun, singles, sizeOf, takeRuns, type Message, type Run, type RunQueue } from './run-queue';
import { uuidv7 } from './uuidv7';

/** An event the server refused (validation); never retried. */
export interface RejectedEvent {
  readonly eventId: string;
  readonly reason: string;
  /** The event as it was sent. */
  readonly event: WireEvent;
}

/** Events dropped after a failure that must not be retried (docs/sdk.md, "Retries"). */
export class IngestError extends Error {
  constructor(
    message: string,
    /** The gRPC error that ended the stream. */
    override readonly cause: ServiceError,
    /** How many events were dropped. */
    readonly events: number,
  ) {
    super(message);
    this.name = 'IngestError';
  }
}

/** add() on a full buffer with `whenFull: 'fail'`, or on a closed ingester. */
export class BufferFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BufferFullError';
  }
}

/**
 * close() gave up after `closeTimeoutMs`: the events still unacknowledged were
 * dropped from the buffer and are listed here (each may or may not be stored:
 * its stream never answered). Counted as `failed`.
 */
export class CloseTimeoutError extends Error {
  constructor(
    message: string,
    /** The unacknowledged events, in the order they were added. */
    readonly unacknowledged: readonly WireEvent[],
  ) {
    super(message);
    this.name = 'CloseTimeoutError';
  }
}

export interface IngesterOptions extends BackoffOptions {
  /** Most events in one stream message (default 1000); never more than the tenant's burst (x-ratelimit-limit). */
  readonly maxBatchEvents?: number;
  /** Most bytes in one stream message (default 1 MiB), well under the server's GRPC_MAX_RECEIVE_MESSAGE_SIZE (16 MiB). */
  readonly maxBatchBytes?: number;
  /** The longest the first event of a partly filled message waits before it is sent (default 20 ms). */
  readonly lingerMs?: number;
  /** A stream is ended (and so acknowledged) after this many events (default 20 000)... */
  readonly streamMaxEvents?: number;
  /** ...or this long after it opened (default 1 000 ms). */
  readonly streamMaxMs?: number;
  /** Streams in flight at once (default 2). */
  readonly maxConcurrentStreams?: number;
  /** Most events held (queued, in flight or awaiting acknowledgement; default 100 000). */
  readonly bufferMaxEvents?: number;
  /** Most bytes held (default 64 MiB). */
  readonly bufferMaxBytes?: number;
  /** On a full buffer add() waits for room ('wait', the default) or throws BufferFullError ('fail'). */
  readonly whenFull?: 'wait' | 'fail';
  /** close() gives up after this long (default 30 000 ms): it rejects with CloseTimeoutError listing the unacknowledged events. */
  readonly closeTimeoutMs?: number;
  /** Called once per rejected event: listed in a response (the server lists the first 100 of a stream), or alone too large for the server. */
  readonly onRejected?: (rejected: RejectedEvent) => void;
  /** Called when a stream's events are dropped after a failure that must not be retried. */
  readonly onError?: (error: IngestError) => void;
}

/** The ingester's counters, for the application's own metrics. */
export interface IngesterCounters {
  /** Events newly stored (acknowledged as accepted). */
  accepted: number;
  /** Events acknowledged as already stored (mostly: retries of streams whose first attempt was stored). */
  duplicates: number;
  /** Events the server rejected (validation), or alone too large for its message limit. */
  rejected: number;
  /** Stream resends (attempts after the first). */
  retried: number;
  /** Events dropped: after a failure that must not be retried, or unacknowledged when close() gave up. */
  failed: number;
  /** Events held now: queued, in flight or awaiting acknowledgement. */
  buffered: number;
  /** Bytes held now (their exact encoded size). */
  bufferedBytes: number;
}

interface StreamState {
  readonly messages: Message[];
  firstSeq: number;
  events: number;
  bytes: number;
}

interface CallOutcome {
  readonly response?: IngestStreamResponse;
  readonly error?: ServiceError;
}

interface FlushWaiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** What to do with a stream whose attempt failed. */
type Recovery = { readonly resend: 'now' } | { readonly resend: 'after'; readonly delayMs: number } | { readonly resend: 'never' };

/**
 * Wakes everyone waiting at once; a new promise per round. A plain object
 * (createSignal) changed by waitSignal and notifySignal, for the reason given
 * at IngesterState.
 */
interface Signal {
  waiting: { promise: Promise<void>; resolve: () => void } | undefined;
}

function createSignal(): Signal {
  return { waiting: undefined };
}

function waitSignal(signal: Signal, timeoutMs: number): Promise<void> {
  if (!signal.waiting) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    signal.waiting = { promise, resolve };
  }
  if (!Number.isFinite(timeoutMs)) return signal.waiting.promise;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([signal.waiting.promise, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, timeoutMs))))]).finally(() => clearTimeout(timer));
}

function notifySignal(signal: Signal): void {
  const waiting = signal.waiting;
  signal.waiting = undefined;
  waiting?.resolve();
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

type ResolvedOptions = Required<Omit<IngesterOptions, 'onRejected' | 'onError' | keyof BackoffOptions>>;

/**
 * What add() reads and changes for each event, kept apart from the rest of
 * the ingester (IngesterCore) in a plain object made by an object literal,
 * as the encoder, the queue and the signals are. V8 keeps a literal's hidden
 * class alive for as long as the function that makes it, while a class
 * instance's hidden class is collected with the last instance, and the
 * optimized code built for it is thrown away with it: a process that makes
 * new ingesters after the old ones were collected would compile add() and
 * everything it inlines again for each (docs/sdk.md, "Performance"). For the
 * same reason the public Ingester holds no fields of its own (see `states`).
 */
interface IngesterState {
  readonly core: IngesterCore;
  readonly options: ResolvedOptions;
  readonly counts: IngesterCounters;
  /** This ingester's own slabs: its frames lie one after another (encode-event.ts). */
  readonly encoder: FrameEncoder;
  readonly pending: RunQueue;
  readonly dataSignal: Signal;
  readonly roomSignal: Signal;
  nextSeq: number;
  addWaiters: number;
  closing: boolean;
  /** The tenant's event burst, from x-ratelimit-limit. */
  burst: number;
  /** maxBatchBytes, lowered when the server refuses a message as too large (RESOURCE_EXHAUSTED without RetryInfo). */
  messageMaxBytes: number;
}

/** Each ingester's state, looked up by the ingester: an Ingester has no fields, so its hidden class is its class's own (see IngesterState). */
const states = new WeakMap<Ingester, IngesterState>();

function stateOf(ingester: Ingester): IngesterState {
  const state = states.get(ingester);
  if (state === undefined) throw new TypeError('not an ingester made by VaultClient.ingester()');
  return state;
}

/**
 * Batches events into IngestStream calls and retries them exactly once-safely
 * (docs/sdk.md). Make one with VaultClient.ingester().
 */
export class Ingester {
  /** @internal Use VaultClient.ingester(). */
  constructor(client: FramedIngestClient, metadata: () => Metadata, deadlineMs: number, settings: IngesterOptions = {}) {
    states.set(this, new IngesterCore(client, metadata, deadlineMs, settings).hot);
  }

  /** A snapshot of the counters. */
  get counters(): Readonly<IngesterCounters> {
    return { ...stateOf(this).counts };
  }

  /**
   * Queues one event; resolves once it is held by the ingester (not yet
   * acknowledged: see flush()). Waits while the buffer is full, or throws
   * BufferFullError when `whenFull` is 'fail'. Returns the event's id.
   */
  add(input: EventInput): Promise<string> {
    return addEvent(stateOf(this), input);
  }

  /**
   * Resolves when every event added before the call is acknowledged by the
   * server (or rejected by it). Rejects with the IngestError of any stream
   * dropped since the previous flush (a failure that must not be retried).
   */
  flush(): Promise<void> {
    return stateOf(this).core.flush();
  }

  /**
   * Stops taking events, flushes everything held, then ends the streams.
   * Gives up after `closeTimeoutMs`: cancels the ingester's calls and rejects
   * with a CloseTimeoutError listing every unacknowledged event. Idempotent.
   */
  close(): Promise<void> {
    return stateOf(this).core.close();
  }
}

/** Ingester.add(). */
async function addEvent(state: IngesterState, input: EventInput): Promise<string> {
  if (state.closing) throw new BufferFullError('the ingester is closed');
  const eventId = input.eventId ?? uuidv7();
  const start = encodeEventInput(state.encoder, input, eventId);
  const slab = state.encoder.slab;
  const bytes = state.encoder.end - start;
  if (bytes > state.options.bufferMaxBytes) {
    throw new BufferFullError(`the event takes ${bytes} bytes, more than bufferMaxBytes (${state.options.bufferMaxBytes})`);
  }
  if (state.addWaiters > 0 || !hasRoom(state, bytes)) {
    if (state.options.whenFull === 'fail') {
      throw new BufferFullError(`the buffer is full (bufferMaxEvents ${state.options.bufferMaxEvents}, bufferMaxBytes ${state.options.bufferMaxBytes}): the server is slower than the events come`);
    }
    state.addWaiters++;
    try {
      // FIFO enough: whoever wakes first and finds room goes; new adds queue behind waiters.
      while (!hasRoom(state, bytes)) {
        await waitSignal(state.roomSignal, Number.POSITIVE_INFINITY);
        if (state.closing) break;
      }
    } finally {
      state.addWaiters--;
    }
    if (state.closing) throw new BufferFullError('the ingester is closed');
  }
  const wasEmpty = state.pending.events === 0;
  const limit = batchEventLimit(state);
  appendRun(state.pending, slab, start, bytes, state.nextSeq++, limit, state.messageMaxBytes);
  state.counts.buffered++;
  state.counts.bufferedBytes += bytes;
  if (wasEmpty || state.pending.events >= limit || state.pending.bytes >= state.messageMaxBytes) notifySignal(state.dataSignal);
  // This event completed a message: one turn of the event loop before resolving, so that a lane
  // sends it (and reads acknowledgements) while the application goes on adding. Without it, an
  // application adding in a loop of awaits encodes everything before a byte leaves.
  if (state.pending.events === limit || (state.pending.bytes >= state.messageMaxBytes && state.pending.bytes - bytes < state.messageMaxBytes)) await nextTurn();
  return eventId;
}

function hasRoom(state: IngesterState, bytes: number): boolean {
  return state.counts.buffered < state.options.bufferMaxEvents && state.counts.bufferedBytes + bytes <= state.options.bufferMaxBytes;
}

function batchEventLimit(state: IngesterState): number {
  return Math.max(1, Math.min(state.options.maxBatchEvents, state.burst));
}

/** The ingester's streams, retries and acknowledgements (Ingester is its public face). */
class IngesterCore {
  readonly hot: IngesterState;
  private readonly inFlight = new Set<StreamState>();
  private readonly calls = new Set<ClientWritableStream<Buffer>>();
  /** Wakes retry waits when close() gives up. */
  private readonly abandonSignal = createSignal();
  private readonly flushWaiters: FlushWaiter[] = [];
  private readonly lanes: Promise<void>[] = [];
  private flushing = 0;
  /** close() gave up: the lanes stop at their next step without settling anything. */
  private abandoned = false;
  private closed: Promise<void> | undefined;
  /** Failures since the last flush() returned. */
  private failures: IngestError[] = [];

  constructor(
    private readonly client: FramedIngestClient,
    private readonly metadata: () => Metadata,
    private readonly deadlineMs: number,
    private readonly settings: IngesterOptions = {},
  ) {
    const options: ResolvedOptions = {
      maxBatchEvents: positive('maxBatchEvents', settings.maxBatchEvents ?? 1000),
      maxBatchBytes: positive('maxBatchBytes', settings.maxBatchBytes ?? 1024 * 1024),
      lingerMs: nonNegative('lingerMs', settings.lingerMs ?? 20),
      streamMaxEvents: positive('streamMaxEvents', settings.streamMaxEvents ?? 20_000),
      streamMaxMs: positive('streamMaxMs', settings.streamMaxMs ?? 1000),
      maxConcurrentStreams: positive('maxConcurrentStreams', settings.maxConcurrentStreams ?? 2),
      bufferMaxEvents: positive('bufferMaxEvents', settings.bufferMaxEvents ?? 100_000),
      bufferMaxBytes: positive('bufferMaxBytes', settings.bufferMaxBytes ?? 64 * 1024 * 1024),
      whenFull: settings.whenFull ?? 'wait',
      closeTimeoutMs: positive('closeTimeoutMs', settings.closeTimeoutMs ?? 30_000),
    };
    if (options.whenFull !== 'wait' && options.whenFull !== 'fail') throw new RangeError(`whenFull must be 'wait' or 'fail', got ${String(options.whenFull)}`);
    this.hot = {
      core: this,
      options,
      counts: { accepted: 0, duplicates: 0, rejected: 0, retried: 0, failed: 0, buffered: 0, bufferedBytes: 0 },
      encoder: createFrameEncoder(),
      pending: createRunQueue(),
      dataSignal: createSignal(),
      roomSignal: createSignal(),
      nextSeq: 0,
      addWaiters: 0,
      closing: false,
      burst: Number.POSITIVE_INFINITY,
      messageMaxBytes: options.maxBatchBytes,
    };
    for (let lane = 0; lane < options.maxConcurrentStreams; lane++) this.lanes.push(this.runLane());
  }

  /**
   * Resolves when every event added before the call is acknowledged by the
   * server (or rejected by it). Rejects with the IngestError of any stream
   * dropped since the previous flush (a failure that must not be retried).
   */
  flush(): Promise<void> {
    const target = this.hot.nextSeq;
    const promise = new Promise<void>((resolve, reject) => this.flushWaiters.push({ target, resolve, reject }));
    this.flushing++;
    notifySignal(this.hot.dataSignal);
    this.checkFlushWaiters();
    return promise.finally(() => {
      this.flushing--;
    });
  }

  /**
   * Stops taking events, flushes everything held, then ends the streams.
   * Gives up after `closeTimeoutMs`: cancels the ingester's calls and rejects
   * with a CloseTimeoutError listing every unacknowledged event. Idempotent.
   */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.hot.closing = true;
    notifySignal(this.hot.roomSignal);
    const flushed = this.flush();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.abandon()), this.hot.options.closeTimeoutMs);
    });
    this.closed = Promise.race([flushed, gaveUp]).finally(async () => {
      clearTimeout(timer);
      notifySignal(this.hot.dataSignal);
      await Promise.all(this.lanes);
    });
    return this.closed;
  }

  /** close() timed out: drops every unsettled event from the buffer, reported in the returned error, and cancels the calls. */
  private abandon(): CloseTimeoutError {
    this.abandoned = true;
    const runs: Run[] = drainRuns(this.hot.pending);
    for (const stream of this.inFlight) for (const message of stream.messages) runs.push(...message);
    runs.sort((a, b) => a.seq - b.seq);
    const entries = runs.flatMap(singles);
    this.inFlight.clear();
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    this.hot.counts.failed += entries.length;
    this.hot.counts.buffered = 0;
    this.hot.counts.bufferedBytes = 0;
    const error = new CloseTimeoutError(
      `close() gave up after closeTimeoutMs (${this.hot.options.closeTimeoutMs} ms): ${entries.length} events were not acknowledged (each may or may not be stored)`,
      entries.map(decodeEventFrame),
    );
    for (const waiter of this.flushWaiters.splice(0)) waiter.reject(error);
    notifySignal(this.abandonSignal);
    notifySignal(this.hot.dataSignal);
    notifySignal(this.hot.roomSignal);
    return error;
  }

  private lowestUnsettledSeq(): number {
    let lowest = peekRun(this.hot.pending)?.seq ?? Number.POSITIVE_INFINITY;
    for (const stream of this.inFlight) lowest = Math.min(lowest, stream.firstSeq);
    return lowest;
  }

  private checkFlushWaiters(): void {
    if (this.flushWaiters.length === 0) return;
    const lowest = this.lowestUnsettledSeq();
    for (let i = 0; i < this.flushWaiters.length; ) {
      const waiter = this.flushWaiters[i]!;
      if (lowest >= waiter.target) {
        this.flushWaiters.splice(i, 1);
        const failures = this.failures;
        if (failures.length > 0) {
          this.failures = [];
          waiter.reject(failures.length === 1 ? failures[0]! : new IngestError(`${failures.length} streams failed: ${failures[0]!.message}`, failures[0]!.cause, failures.reduce((sum, f) => sum + f.events, 0)));
        } else {
          waiter.resolve();
        }
      } else {
        i++;
      }
    }
  }

  /**
   * Adds the next message to the stream: full, or lingered, or flushing.
   * False when the stream should end (by `until`, or nothing left to send).
   */
  private async nextBatch(until: number, stream: StreamState): Promise<boolean> {
    for (;;) {
      if (this.abandoned) return false;
      const now = Date.now();
      const head = peekRun(this.hot.pending);
      if (head) {
        // A stream holds at most streamMaxEvents: its last message takes only what is left of that.
        const limit = Math.min(batchEventLimit(this.hot), this.hot.options.streamMaxEvents - stream.events);
        const ready = this.hot.pending.events >= limit || this.hot.pending.bytes >= this.hot.messageMaxBytes || this.flushing > 0 || this.hot.closing || now - head.addedAt >= this.hot.options.lingerMs;
        if (ready) {
          // Synchronously with taking them, so that flush() never misses events between queue and stream.
          this.takeBatch(limit, stream);
          return true;
        }
        if (now >= until) return false;
        await waitSignal(this.hot.dataSignal, Math.min(head.addedAt + this.hot.options.lingerMs, until) - now);
        continue;
      }
      // Nothing queued: end the stream at once when flushing (so that it is acknowledged), else at `until`.
      if (stream.events > 0 && (this.flushing > 0 || this.hot.closing)) return false;
      if (now >= until) return false;
      if (stream.events === 0 && this.hot.closing) return false;
      await waitSignal(this.hot.dataSignal, until - now);
    }
  }

  private takeBatch(limit: number, stream: StreamState): void {
    const message = takeRuns(this.hot.pending, limit, this.hot.messageMaxBytes);
    stream.messages.push(message);
    stream.events += eventsIn(message);
    stream.bytes += sizeOf(message);
    stream.firstSeq = Math.min(stream.firstSeq, message[0]!.seq);
  }

  /** One lane: opens a stream when events are queued, fills it, ends it, retries it until it is settled. */
  private async runLane(): Promise<void> {
    for (;;) {
      if (this.abandoned || (this.hot.closing && this.hot.pending.events === 0)) return;
      const stream: StreamState = { messages: [], firstSeq: Number.POSITIVE_INFINITY, events: 0, bytes: 0 };
      this.inFlight.add(stream);
      let outcome = await this.sendFilling(stream);
      if (this.abandoned) return;
      if (stream.events === 0) {
        this.inFlight.delete(stream);
        continue;
      }
      let retries = 0;
      while (outcome.error) {
        const recovery = this.recover(stream, outcome.error, retries + 1);
        if (recovery.resend === 'never') break;
        if (stream.events === 0) {
          // Every event of the stream was rejected as too large on its own: nothing left to send.
          outcome = { response: { accepted: 0, duplicates: 0, rejected: 0, rejectedEvents: [] } };
          break;
        }
        retries++;
        this.hot.counts.retried++;
        if (recovery.resend === 'after') await waitSignal(this.abandonSignal, recovery.delayMs);
        if (this.abandoned) return;
        outcome = await this.resend(stream);
        if (this.abandoned) return;
      }
      this.settle(stream, outcome);
    }
  }

  /**
   * The retry rules (docs/sdk.md, "Retries"): a message over the burst is cut
   * to the burst and resent at once; RESOURCE_EXHAUSTED without RetryInfo (a
   * message too large for the server) is cut in halves and resent at once,
   * down to single events, an event too large alone being rejected; the rest
   * follows the contract's table (classify).
   */
  private recover(stream: StreamState, error: ServiceError, retry: number): Recovery {
    if (this.splitForBurst(stream, error)) return { resend: 'now' };
    if (error.code === status.RESOURCE_EXHAUSTED && retryInfoDelayMs(error.metadata) === undefined) {
      this.splitForSize(stream, error);
      return { resend: 'now' };
    }
    const decision = classify(error);
    if (!decision.retry) return { resend: 'never' };
    return { resend: 'after', delayMs: retryDelayMs(retry, decision.retryInfoMs, this.settings) };
  }

  /**
   * A message carrying more events than the tenant's burst fails with
   * INVALID_ARGUMENT at once. When the response's x-ratelimit-limit shows that
   * this was the cause, the stream's messages are cut to the burst and resent:
   * the server stored none of them.
   */
  private splitForBurst(stream: StreamState, error: ServiceError): boolean {
    if (error.code !== status.INVALID_ARGUMENT) return false;
    this.learnBurst(error.metadata);
    const limit = batchEventLimit(this.hot);
    if (!stream.messages.some((message) => eventsIn(message) > limit)) return false;
    const all = stream.messages.flat().flatMap(singles);
    stream.messages.length = 0;
    for (let i = 0; i < all.length; i += limit) stream.messages.push(joinRuns(all.slice(i, i + limit)));
    return true;
  }

  /**
   * RESOURCE_EXHAUSTED without RetryInfo: a message was over a server limit
   * (GRPC_MAX_RECEIVE_MESSAGE_SIZE). Every message of more than one event is
   * cut in two halves, and later messages are kept to half the largest one;
   * when every message is a single event already, the largest event is too
   * large alone: it is rejected (onRejected) and the rest resent.
   */
  private splitForSize(stream: StreamState, error: ServiceError): void {
    const largest = Math.max(...stream.messages.map(sizeOf));
    if (stream.messages.some((message) => eventsIn(message) > 1)) {
      this.hot.messageMaxBytes = Math.max(1, Math.min(this.hot.messageMaxBytes, Math.floor(largest / 2)));
      const halves: Message[] = [];
      for (const message of stream.messages) {
        const events = message.flatMap(singles);
        if (events.length === 1) halves.push(message);
        else halves.push(joinRuns(events.slice(0, Math.ceil(events.length / 2))), joinRuns(events.slice(Math.ceil(events.length / 2))));
      }
      stream.messages.splice(0, stream.messages.length, ...halves);
      return;
    }
    const index = stream.messages.findIndex((message) => message[0]!.length === largest);
    const [entry] = stream.messages.splice(index, 1)[0]!;
    stream.events--;
    stream.bytes -= entry!.length;
    this.hot.counts.buffered--;
    this.hot.counts.bufferedBytes -= entry!.length;
    this.hot.counts.rejected++;
    const event = decodeEventFrame(entry!);
    const reason = `the event alone (${entry!.length} bytes encoded) is over the server's message limit: RESOURCE_EXHAUSTED ${error.details}`;
    if (this.settings.onRejected) this.safely(() => this.settings.onRejected!({ eventId: event.eventId, reason, event }));
    notifySignal(this.hot.roomSignal);
  }

  private learnBurst(metadata: Metadata | undefined): void {
    const value = Number(metadata?.get('x-ratelimit-limit')[0]);
    if (Number.isInteger(value) && value > 0) this.hot.burst = value;
  }

  private openCall(): { call: ClientWritableStream<Buffer>; outcome: Promise<CallOutcome>; failed: () => boolean } {
    let done = false;
    let resolveOutcome!: (outcome: CallOutcome) => void;
    const outcome = new Promise<CallOutcome>((resolve) => (resolveOutcome = resolve));
    const deadline = new Date(Date.now() + this.hot.options.streamMaxMs + this.deadlineMs);
    const call = this.client.ingestStream(this.metadata(), { deadline }, (error, response) => {
      done = true;
      this.calls.delete(call);
      if (error) resolveOutcome({ error });
      else resolveOutcome({ response });
    });
    this.calls.add(call);
    call.on('metadata', (metadata: Metadata) => this.learnBurst(metadata));
    call.on('status', (status: { metadata?: Metadata }) => this.learnBurst(status.metadata));
    call.on('error', () => undefined); // reported through the callback
    return { call, outcome, failed: () => done };
  }

  private async write(call: ClientWritableStream<Buffer>, message: Message, failed: () => boolean, outcome: Promise<CallOutcome>): Promise<void> {
    const ok = call.write(messageBytes(message));
    if (ok || failed()) return;
    await Promise.race([new Promise<void>((resolve) => call.once('drain', resolve)), outcome]);
  }

  /** The first attempt: the stream is filled from the queue while it is open. */
  private async sendFilling(stream: StreamState): Promise<CallOutcome> {
    // No call is opened before its first message is ready (waits for events; none when closing).
    if (!(await this.nextBatch(Number.POSITIVE_INFINITY, stream))) return {};
    const { call, outcome, failed } = this.openCall();
    const until = Date.now() + this.hot.options.streamMaxMs;
    for (let written = 0; written < stream.messages.length; ) {
      await this.write(call, stream.messages[written++]!, failed, outcome);
      if (this.abandoned) return {};
      if (stream.events >= this.hot.options.streamMaxEvents || failed()) break;
      if (!(await this.nextBatch(until, stream))) break;
    }
    call.end();
    return outcome;
  }

  /** A retry: the whole stream again, every message as it was (or cut), then half-closed at once. */
  private async resend(stream: StreamState): Promise<CallOutcome> {
    const { call, outcome, failed } = this.openCall();
    for (const message of stream.messages) {
      if (failed() || this.abandoned) break;
      await this.write(call, message, failed, outcome);
    }
    call.end();
    return outcome;
  }

  private settle(stream: StreamState, outcome: CallOutcome): void {
    this.inFlight.delete(stream);
    this.hot.counts.buffered -= stream.events;
    this.hot.counts.bufferedBytes -= stream.bytes;
    if (outcome.response) {
      const response = outcome.response;
      this.hot.counts.accepted += response.accepted;
      this.hot.counts.duplicates += response.duplicates;
      this.hot.counts.rejected += response.rejected;
      if (response.rejectedEvents.length > 0 && this.settings.onRejected) {
        const all = stream.messages.flat().flatMap(singles);
        for (const rejected of response.rejectedEvents) {
          const entry = all[rejected.index];
          const event = entry ? decodeEventFrame(entry) : { eventId: rejected.eventId, timestamp: undefined, eventType: '', serviceName: '', payload: undefined, payloadJson: undefined, receivedAt: undefined };
          this.safely(() => this.settings.onRejected!({ eventId: rejected.eventId, reason: rejected.reason, event }));
        }
      }
    } else {
      const cause = outcome.error!;
      this.hot.counts.failed += stream.events;
      const error = new IngestError(`${stream.events} events dropped: the stream failed with ${isServiceError(cause) ? cause.code : '?'} (${cause.details}), which must not be retried`, cause, stream.events);
      this.failures.push(error);
      if (this.settings.onError) this.safely(() => this.settings.onError!(error));
    }
    notifySignal(this.hot.roomSignal);
    this.checkFlushWaiters();
  }

  private safely(callback: () => void): void {
    try {
      callback();
    } catch {
      // The application's callback failing must not stop the ingester.
    }
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${name} must be zero or more, got ${value}`);
  return value;
}
