import { MemoryTokenBucketStore } from '../../src/domain/rate-limit/memory-token-bucket-store';
import { RateLimiter, type RateLimitTake } from '../../src/domain/rate-limit/rate-limiter';
import type { Tenant } from '../../src/domain/tenants/tenant';
import { VaultError } from '../../src/domain/vault-error';

/** 1000 events/s with a burst of 50: a 50-event message comes every 50 ms once the burst is spent. */
const tenant: Tenant = { id: 'wait-line', name: 'w', createdAt: new Date(0), callsPerMinute: undefined, eventsPerSecond: 1000, eventBurst: 50 };
const subject = { tenant, method: 'telemetry.v1.IngestService/IngestStream' };

function limiter(): { limiter: RateLimiter; store: MemoryTokenBucketStore } {
  const store = new MemoryTokenBucketStore();
  return { limiter: new RateLimiter(store, { callsPerMinute: 1000, eventsPerSecond: 1000, eventBurst: 50 }), store };
}

describe('RateLimiter.takeWaiting (streams waiting for event tokens)', () => {
  test('when more streams wait than one refill serves, then they are served in arrival order, each within its wait', async () => {
    const { limiter: rateLimiter, store } = limiter();
    await rateLimiter.take(subject, { events: 50 }, 'events');
    const served: number[] = [];
    const takes: RateLimitTake[] = [];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        rateLimiter.takeWaiting(subject, 50, { maxWaitMs: 2000, signal: new AbortController().signal, onTake: (take) => takes.push(take) }).then(() => served.push(i)),
      ),
    );
    expect(served).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // 8 x 50 tokens at 1000/s: about 400 ms, never less.
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(takes.filter((take) => take.allowed)).toHaveLength(8);
    await store.close();
  });

  test('when those already in line want more than a newcomer may wait for, then the newcomer is refused at once with the delay its turn would take', async () => {
    const { limiter: rateLimiter, store } = limiter();
    await rateLimiter.take(subject, { events: 50 }, 'events');
    const waiting = Array.from({ length: 4 }, () => rateLimiter.takeWaiting(subject, 50, { maxWaitMs: 2000, signal: new AbortController().signal, onTake: () => undefined }));
    await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    const refusal = await rateLimiter.takeWaiting(subject, 50, { maxWaitMs: 100, signal: new AbortController().signal, onTake: () => undefined }).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(50);
    expect(refusal).toBeInstanceOf(VaultError);
    expect(refusal).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: 'RATE_LIMITED_EVENTS' });
    // Four messages ahead and its own: about 250 ms of refill.
    expect((refusal as VaultError).retryAfterMs).toBeGreaterThan(150);
    expect((refusal as VaultError).retryAfterMs).toBeLessThanOrEqual(260);
    await Promise.all(waiting);
    await store.close();
  });

  test('when a stream in line is cancelled, then it leaves the line with its reason and the ones behind it are served', async () => {
    const { limiter: rateLimiter, store } = limiter();
    await rateLimiter.take(subject, { events: 50 }, 'events');
    const options = (signal: AbortSignal) => ({ maxWaitMs: 2000, signal, onTake: () => undefined });
    const first = rateLimiter.takeWaiting(subject, 50, options(new AbortController().signal));
    const cancelled = new AbortController();
    const second = rateLimiter.takeWaiting(subject, 50, options(cancelled.signal)).catch((error: unknown) => error);
    const third = rateLimiter.takeWaiting(subject, 50, options(new AbortController().signal));
    cancelled.abort(new VaultError('CANCELLED', 'the client cancelled the call'));
    expect(await second).toMatchObject({ code: 'CANCELLED' });
    await expect(Promise.all([first, third])).resolves.toEqual([undefined, undefined]);
    await store.close();
  });

  test('when a stream at the head of the line cannot get its tokens within its wait, then it is refused with the delay, and the next one goes on', async () => {
    const { limiter: rateLimiter, store } = limiter();
    await rateLimiter.take(subject, { events: 50 }, 'events');
    const options = (maxWaitMs: number) => ({ maxWaitMs, signal: new AbortController().signal, onTake: () => undefined });
    const short = rateLimiter.takeWaiting(subject, 50, options(10)).catch((error: unknown) => error);
    const patient = rateLimiter.takeWaiting(subject, 50, options(2000));
    expect(await short).toMatchObject({ code: 'RESOURCE_EXHAUSTED', retryAfterMs: expect.any(Number) });
    await expect(patient).resolves.toBeUndefined();
    await store.close();
  });
});
