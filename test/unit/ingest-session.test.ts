import pino from 'pino';
import type { AuthenticatedContext } from '../../src/domain/call-context';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import type { EventSink, IncomingEvent, ValidEvent, WriteResult } from '../../src/domain/ingest/ingest-event';
import { IngestSession } from '../../src/domain/ingest/ingest-session';
import { MemoryTokenBucketStore } from '../../src/domain/rate-limit/memory-token-bucket-store';
import { RateLimiter } from '../../src/domain/rate-limit/rate-limiter';
import { VaultError } from '../../src/domain/vault-error';

/** A sink whose writes the test completes by hand; it records what it was given. */
class ManualSink implements EventSink {
  readonly writes: { ids: string[]; resolve: (inserted: number) => void; reject: (error: unknown) => void }[] = [];
  inFlight = 0;
  maxInFlight = 0;

  write(_tenantId: string, events: readonly ValidEvent[]): Promise<WriteResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<WriteResult>((resolve, reject) => {
      const settle = (): void => {
        this.inFlight--;
      };
      this.writes.push({
        ids: events.map((event) => event.eventId),
        resolve: (inserted) => {
          settle();
          resolve({ inserted, stored: [] });
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
    });
  }

  /** Completes every pending write, each storing all its events. */
  completeAll(): void {
    for (const write of this.writes.splice(0)) write.resolve(write.ids.length);
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function makeContext(controller = new AbortController()): AuthenticatedContext {
  const tenant = { id: 't1', name: 't', createdAt: new Date(0), callsPerMinute: undefined, eventsPerSecond: 1, eventBurst: 20 };
  return {
    requestId: 'r',
    method: 'telemetry.v1.IngestService/IngestStream',
    logger: pino({ level: 'silent' }),
    deadline: undefined,
    signal: controller.signal,
    peer: '127.0.0.1:40000',
    principal: { keyId: 'k1', tenant },
    tenant,
  };
}

let counter = 0;
const incoming = (overrides: Partial<IncomingEvent> = {}): IncomingEvent => ({
  eventId: `e${counter++}`,
  timestamp: { seconds: Math.floor(Date.now() / 1000) - 1, nanos: 0 },
  eventType: 'log',
  serviceName: 's',
  payloadJson: '{}',
  ...overrides,
});

function openSession(sink: EventSink, options: { mode?: 'stream' | 'unary'; batchSize?: number; flushIntervalMs?: number; listed?: number; ctx?: AuthenticatedContext } = {}): IngestSession {
  return new IngestSession(
    options.ctx ?? makeContext(),
    {
      sink,
      validator: new EventValidator({ maxPayloadBytes: 1024, maxPayloadDepth: 10, maxFutureSkewMs: 600_000 }),
      limiter: new RateLimiter(new MemoryTokenBucketStore(), { callsPerMinute: 1000, eventsPerSecond: 1, eventBurst: 20 }),
      settings: { batchSize: options.batchSize ?? 3, batchMaxBytes: 1024 * 1024, flushIntervalMs: options.flushIntervalMs ?? 60_000, rejectedEventsListed: options.listed ?? 100 },
      streamMaxWaitMs: 0,
    },
    options.mode ?? 'stream',
  );
}

describe('IngestSession', () => {
  test('when a message fills several batches, then each is written in turn, one at a time, and accept waits while the next batch is full', async () => {
    const sink = new ManualSink();
    const session = openSession(sink);
    let accepted = false;
    const accepting = session.accept(Array.from({ length: 7 }, () => incoming())).then(() => (accepted = true));
    await tick();
    expect(sink.writes.map((write) => write.ids.length)).toEqual([3]);
    expect(accepted).toBe(false);
    sink.completeAll();
    await tick();
    // The first write is done; the second batch's write has started.
    expect(sink.writes.map((write) => write.ids.length)).toEqual([3]);
    sink.completeAll();
    await accepting;
    expect(sink.maxInFlight).toBe(1);
    const finishing = session.finish();
    await tick();
    sink.completeAll();
    expect(await finishing).toEqual({ accepted: 7, duplicates: 0, rejected: 0, rejectedEvents: [] });
  });

  test('when a batch holds copies of one event_id, then one copy is written and the others count as duplicates; rows already stored count too', async () => {
    const sink = new ManualSink();
    const session = openSession(sink, { batchSize: 10 });
    const event = incoming();
    await session.accept([event, { ...event, payloadJson: '{"second":true}' }, incoming(), event]);
    const finishing = session.finish();
    await tick();
    expect(sink.writes[0]!.ids).toEqual([event.eventId, expect.any(String)]);
    sink.writes[0]!.resolve(1); // one of the two was already stored
    expect(await finishing).toMatchObject({ accepted: 1, duplicates: 3, rejected: 0 });
  });

  test('when events are rejected, then indexes count across messages and only the configured number is listed', async () => {
    const sink = new ManualSink();
    const session = openSession(sink, { listed: 2 });
    await session.accept([incoming(), incoming({ eventType: 'X' })]);
    await session.accept([incoming({ eventId: '' }), incoming({ serviceName: '' })]);
    const finishing = session.finish();
    await tick();
    sink.completeAll();
    const outcome = await finishing;
    expect(outcome).toMatchObject({ accepted: 1, duplicates: 0, rejected: 3 });
    expect(outcome.rejectedEvents.map((rejected) => rejected.index)).toEqual([1, 2]);
  });

  test('when a stream pauses with a partly filled batch, then the batch is written after the flush interval', async () => {
    const sink = new ManualSink();
    const session = openSession(sink, { flushIntervalMs: 20 });
    await session.accept([incoming()]);
    expect(sink.writes).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sink.writes.map((write) => write.ids.length)).toEqual([1]);
    sink.completeAll();
    expect(await session.finish()).toMatchObject({ accepted: 1 });
  });

  test('when a write fails, then the call fails with its error and later messages are refused', async () => {
    const sink = new ManualSink();
    const session = openSession(sink);
    const accepting = session.accept(Array.from({ length: 6 }, () => incoming()));
    await tick();
    const failure = new VaultError('UNAVAILABLE', 'the database is unavailable; retry the call', { retryAfterMs: 1000 });
    sink.writes[0]!.reject(failure);
    await expect(accepting).rejects.toBe(failure);
    expect(session.signal.aborted).toBe(true);
    await expect(session.accept([incoming()])).rejects.toBe(failure);
    await expect(session.finish()).rejects.toBe(failure);
  });

  test('when a call is abandoned, then the write in flight is told to stop and awaited', async () => {
    const sink = new ManualSink();
    const session = openSession(sink);
    void session.accept(Array.from({ length: 3 }, () => incoming())).catch(() => undefined);
    await tick();
    let abandoned = false;
    const abandoning = session.abandon(new Error('client went away')).then(() => (abandoned = true));
    await tick();
    expect(session.signal.aborted).toBe(true);
    expect(abandoned).toBe(false);
    sink.writes[0]!.reject(session.signal.reason);
    await abandoning;
  });

  test('when a message carries more events than the burst, then it is INVALID_ARGUMENT; when the bucket is short, a unary call is RESOURCE_EXHAUSTED', async () => {
    const sink = new ManualSink();
    const session = openSession(sink, { mode: 'unary' });
    await expect(session.accept(Array.from({ length: 21 }, () => incoming()))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('at most 20 events') });
    await session.accept(Array.from({ length: 2 }, () => incoming())).catch(() => undefined);
    sink.completeAll();
    await expect(session.accept(Array.from({ length: 19 }, () => incoming()))).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED', retryAfterMs: expect.any(Number) });
    await session.abandon(new Error('test over'));
  });
});
