import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Event } from '../../src/gen/telemetry/v1/event';
import { IngestServiceClient, type IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { errorDetails, ingestStream, ingestUnary, makeEvent, type CallResult } from './ingest-calls';

/** One call as the application means it: its messages of events, sent whole at each attempt. */
export interface PlannedCall {
  readonly messages: readonly (readonly Event[])[];
  /** Send it as one unary Ingest (its messages joined) instead of an IngestStream. */
  readonly unary?: boolean;
  /** Pause before each message after the first (a stream that takes its time, so that faults land mid-stream). */
  readonly messageIntervalMs?: number;
}

/** One attempt of a call and how it ended. */
export interface Attempt {
  readonly code: status;
  readonly details: string;
  /** The RetryInfo delay the server sent, if any. */
  readonly retryDelayMs: number | undefined;
  readonly startedAt: number;
  readonly endedAt: number;
}

/** A call after the retry loop: acknowledged (response) or given up (error), with every attempt. */
export interface RetriedCall {
  readonly eventIds: readonly string[];
  readonly events: number;
  readonly attempts: readonly Attempt[];
  readonly response: IngestResponse | undefined;
  /** The last error when the call was not acknowledged (not retryable, or out of time). */
  readonly error: ServiceError | undefined;
}

/** What a drill's clients did, added up. */
export interface ClientSummary {
  readonly calls: number;
  readonly acknowledged: number;
  readonly unacknowledged: number;
  /** Events carried by acknowledged calls. */
  readonly eventsAcknowledged: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  /** Attempts after the first, over all calls. */
  readonly retries: number;
  /** Calls that needed more than one attempt. */
  readonly retriedCalls: number;
  /** Failed attempts by status name (UNAVAILABLE: 12, ...). */
  readonly failures: Readonly<Record<string, number>>;
}

export interface RetryingIngestClientOptions {
  /** Each attempt's deadline. */
  readonly attemptTimeoutMs?: number;
  /** A call is given up (and reported unacknowledged) once it has been retried for this long. */
  readonly giveUpAfterMs?: number;
  /** Exponential backoff with full jitter when the server sent no RetryInfo. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** Concurrent senders: each sends calls one after another until `until()` says stop (or maxCalls). */
export interface LoadPlan {
  readonly senders: number;
  readonly messagesPerCall: number;
  readonly eventsPerMessage: number;
  /** Every n-th call of a sender is unary (0 or absent: all streams). */
  readonly unaryEvery?: number;
  readonly messageIntervalMs?: number;
  /** Size of each event's payload padding (a few dozen bytes when absent). */
  readonly payloadBytes?: number;
  readonly until: () => boolean;
  readonly maxCallsPerSender: number;
}

/**
 * A client of IngestService that follows the retry rules of docs/api.md ("What to
 * retry, and how"): UNAVAILABLE, DEADLINE_EXCEEDED and ABORTED are retried,
 * and RESOURCE_EXHAUSTED when it carries RetryInfo; the whole call is sent
 * again, after the RetryInfo delay when there is one, else after an
 * exponential backoff with jitter. Everything else is final. It records every
 * call and attempt, so that a fault drill can compare what was acknowledged
 * with what the database holds.
 */
export class RetryingIngestClient {
  readonly calls: RetriedCall[] = [];
  private readonly client: IngestServiceClient;
  private readonly metadata: Metadata;
  private readonly inFlight = new Set<readonly string[]>();
  private readonly attemptTimeoutMs: number;
  private readonly giveUpAfterMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(address: string, key: string, options: RetryingIngestClientOptions = {}) {
    // A client that reconnects promptly once the server is back (grpc-js waits up to 2 minutes by default).
    this.client = new IngestServiceClient(address, credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 });
    this.metadata = new Metadata();
    this.metadata.set('x-api-key', key);
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 20_000;
    this.giveUpAfterMs = options.giveUpAfterMs ?? 90_000;
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
  }

  /** Sends one call, retrying it whole as docs/api.md says, until it is acknowledged or must be given up. */
  async send(call: PlannedCall): Promise<RetriedCall> {
    const eventIds = call.messages.flatMap((message) => message.map((event) => event.eventId));
    const attempts: Attempt[] = [];
    const firstAt = Date.now();
    this.inFlight.add(eventIds);
    try {
      for (;;) {
        const startedAt = Date.now();
        const result = await this.attempt(call, startedAt + this.attemptTimeoutMs);
        const endedAt = Date.now();
        if (result.error === undefined) {
          attempts.push({ code: status.OK, details: '', retryDelayMs: undefined, startedAt, endedAt });
          return this.record({ eventIds, events: eventIds.length, attempts, response: result.response, error: undefined });
        }
        const retryDelayMs = errorDetails(result.error).retryDelayMs;
        attempts.push({ code: result.error.code, details: result.error.details, retryDelayMs, startedAt, endedAt });
        const delayMs = retryDelay(result.error.code, retryDelayMs, attempts.length, this.initialBackoffMs, this.maxBackoffMs);
        if (delayMs === undefined || Date.now() + delayMs - firstAt > this.giveUpAfterMs) {
          return this.record({ eventIds, events: eventIds.length, attempts, response: undefined, error: result.error });
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    } finally {
      this.inFlight.delete(eventIds);
    }
  }

  /** Runs `plan.senders` senders side by side, each sending fresh calls until the plan says stop. */
  async run(plan: LoadPlan): Promise<void> {
    const sender = async (index: number): Promise<void> => {
      for (let n = 0; n < plan.maxCallsPerSender && !plan.until(); n++) {
        const unary = plan.unaryEvery !== undefined && plan.unaryEvery > 0 && (n + index) % plan.unaryEvery === 0;
        const padding = plan.payloadBytes === undefined ? {} : { payloadJson: JSON.stringify({ sender: index, pad: 'x'.repeat(plan.payloadBytes) }) };
        const messages = Array.from({ length: plan.messagesPerCall }, () => Array.from({ length: plan.eventsPerMessage }, () => makeEvent({ serviceName: `sender-${index}`, ...padding })));
        await this.send({ messages, unary, messageIntervalMs: plan.messageIntervalMs });
      }
    };
    await Promise.all(Array.from({ length: plan.senders }, (_, index) => sender(index)));
  }

  /** The event ids of the calls being attempted right now. */
  inFlightEventIds(): string[] {
    return [...this.inFlight].flat();
  }

  /** Every event id carried by an acknowledged call. */
  acknowledgedIds(): Set<string> {
    return new Set(this.calls.filter((call) => call.response !== undefined).flatMap((call) => call.eventIds));
  }

  /** Every event id this client sent, acknowledged or not. */
  sentIds(): Set<string> {
    return new Set(this.calls.flatMap((call) => call.eventIds));
  }

  summary(): ClientSummary {
    const acknowledged = this.calls.filter((call) => call.response !== undefined);
    const failures: Record<string, number> = {};
    for (const attempt of this.calls.flatMap((call) => call.attempts)) {
      if (attempt.code !== status.OK) failures[status[attempt.code]] = (failures[status[attempt.code]] ?? 0) + 1;
    }
    const sum = (pick: (response: IngestResponse) => number): number => acknowledged.reduce((total, call) => total + pick(call.response!), 0);
    return {
      calls: this.calls.length,
      acknowledged: acknowledged.length,
      unacknowledged: this.calls.length - acknowledged.length,
      eventsAcknowledged: acknowledged.reduce((total, call) => total + call.events, 0),
      accepted: sum((response) => response.accepted),
      duplicates: sum((response) => response.duplicates),
      rejected: sum((response) => response.rejected),
      retries: this.calls.reduce((total, call) => total + call.attempts.length - 1, 0),
      retriedCalls: this.calls.filter((call) => call.attempts.length > 1).length,
      failures,
    };
  }

  close(): void {
    this.client.close();
  }

  private attempt(call: PlannedCall, deadline: number): Promise<CallResult<IngestResponse>> {
    if (call.unary) return ingestUnary(this.client, this.metadata, { events: call.messages.flat() }, { deadline });
    const pause = call.messageIntervalMs;
    return ingestStream(
      this.client,
      this.metadata,
      call.messages.map((events) => ({ events: [...events] })),
      { deadline, beforeEach: pause === undefined ? undefined : (index) => (index === 0 ? undefined : new Promise((resolve) => setTimeout(resolve, pause))) },
    );
  }

  private record(call: RetriedCall): RetriedCall {
    this.calls.push(call);
    return call;
  }
}

/**
 * The retry table of docs/api.md: how long to wait before retrying a call that
 * failed with `code`, or undefined when it must not be retried.
 */
export function retryDelay(code: status, retryInfoMs: number | undefined, attempt: number, initialBackoffMs: number, maxBackoffMs: number): number | undefined {
  const backoff = (): number => Math.random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** (attempt - 1));
  // At least the RetryInfo delay, plus some jitter so that the retries of many clients spread out.
  const afterRetryInfo = retryInfoMs === undefined ? undefined : retryInfoMs + Math.random() * initialBackoffMs;
  switch (code) {
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.ABORTED:
      return afterRetryInfo ?? backoff();
    case status.RESOURCE_EXHAUSTED:
      return afterRetryInfo;
    default:
      return undefined;
  }
}
