import pino from 'pino';
import { FailoverTokenBucketStore, type SharedTokenBucketStore } from '../../src/domain/rate-limit/failover-token-bucket-store';
import { MemoryTokenBucketStore } from '../../src/domain/rate-limit/memory-token-bucket-store';
import { RateLimiter } from '../../src/domain/rate-limit/rate-limiter';
import type { BucketSpec, BucketState, BucketTake } from '../../src/domain/rate-limit/token-bucket-store';
import type { Tenant } from '../../src/domain/tenants/tenant';

/** A clock the test moves by hand. */
class FakeClock {
  constructor(public nowMs = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

const spec: BucketSpec = { capacity: 10, refillPerSecond: 2 };

describe('MemoryTokenBucketStore', () => {
  let clock: FakeClock;
  let store: MemoryTokenBucketStore;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryTokenBucketStore({ now: clock.now });
  });

  afterEach(() => store.close());

  test('when a bucket is new, then it is full; takes count down and say when it is full again', async () => {
    expect(await store.take('k', spec, 0)).toEqual({ allowed: true, remaining: 10, retryAfterMs: 0, resetAtMs: clock.nowMs });
    expect(await store.take('k', spec, 4)).toEqual({ allowed: true, remaining: 6, retryAfterMs: 0, resetAtMs: clock.nowMs + 2000 });
  });

  test('when more is asked than the bucket holds, then nothing is taken and the wait until it would pass is given', async () => {
    await store.take('k', spec, 9);
    expect(await store.take('k', spec, 5)).toEqual({ allowed: false, remaining: 1, retryAfterMs: 2000, resetAtMs: clock.nowMs + 4500 });
    clock.advance(2000);
    expect(await store.take('k', spec, 5)).toMatchObject({ allowed: true, remaining: 0 });
  });

  test('when time passes, then the bucket refills at its rate up to its capacity, never beyond', async () => {
    await store.take('k', spec, 10);
    clock.advance(1500);
    expect((await store.take('k', spec, 0)).remaining).toBe(3);
    clock.advance(60_000);
    expect((await store.take('k', spec, 0)).remaining).toBe(10);
  });

  test('when the clock steps back, then the bucket does not lose tokens', async () => {
    await store.take('k', spec, 4);
    clock.advance(-10_000);
    expect((await store.take('k', spec, 0)).remaining).toBe(6);
  });

  test('when buckets have refilled, then the sweep forgets them (a missing bucket is a full one)', async () => {
    await store.take('a', spec, 10);
    await store.take('b', spec, 1);
    expect(store.size).toBe(2);
    clock.advance(600);
    store.sweep();
    expect(store.size).toBe(1);
    clock.advance(5000);
    store.sweep();
    expect(store.size).toBe(0);
    expect((await store.take('a', spec, 0)).remaining).toBe(10);
  });
});

describe('RateLimiter', () => {
  const tenant = (overrides: Partial<Tenant> = {}): Tenant => ({ id: 't1', name: 't', createdAt: new Date(0), callsPerMinute: undefined, eventsPerSecond: undefined, eventBurst: undefined, ...overrides });
  const limiter = new RateLimiter(new MemoryTokenBucketStore(), { callsPerMinute: 1000, eventsPerSecond: 10_000, eventBurst: 20_000 });

  test('when a tenant has no overrides, then the defaults apply', () => {
    expect(limiter.limitsFor(tenant())).toMatchObject({ calls: { capacity: 1000, refillPerSecond: 1000 / 60 }, events: { capacity: 20_000, refillPerSecond: 10_000 } });
  });

  test('when a tenant overrides only its event rate, then its burst keeps the default proportion', () => {
    expect(limiter.limitsFor(tenant({ eventsPerSecond: 500 })).events).toEqual({ capacity: 1000, refillPerSecond: 500 });
  });

  test('when a tenant overrides its burst and calls, then those apply', () => {
    expect(limiter.limitsFor(tenant({ eventBurst: 7, callsPerMinute: 6 }))).toMatchObject({ calls: { capacity: 6, refillPerSecond: 0.1 }, events: { capacity: 7, refillPerSecond: 10_000 } });
  });
});

/** A shared store the test controls: it answers, fails, hangs or disconnects. */
class ScriptedSharedStore implements SharedTokenBucketStore {
  connected = true;
  mode: 'answer' | 'fail' | 'hang' = 'answer';
  takes = 0;
  async take(_key: string, _spec: BucketSpec, count: number): Promise<BucketState> {
    this.takes++;
    if (this.mode === 'fail') throw new Error('READONLY You can not write against a read only replica');
    if (this.mode === 'hang') return new Promise(() => undefined);
    return { allowed: true, remaining: 1000 - count, retryAfterMs: 0, resetAtMs: 0 };
  }
  async takeAll(takes: readonly BucketTake[]): Promise<BucketState[]> {
    return Promise.all(takes.map((take) => this.take(take.key, take.spec, take.count)));
  }
  async close(): Promise<void> {}
}

describe('FailoverTokenBucketStore', () => {
  let clock: FakeClock;
  let shared: ScriptedSharedStore;
  let local: MemoryTokenBucketStore;
  let store: FailoverTokenBucketStore;
  let degradedChanges: boolean[];
  let localTakes: number;

  beforeEach(() => {
    clock = new FakeClock();
    shared = new ScriptedSharedStore();
    local = new MemoryTokenBucketStore({ now: clock.now });
    degradedChanges = [];
    localTakes = 0;
    store = new FailoverTokenBucketStore(shared, local, {
      timeoutMs: 50,
      retryIntervalMs: 1000,
      logger: pino({ level: 'silent' }),
      now: clock.now,
      onDegradedChange: (degraded) => degradedChanges.push(degraded),
      onLocalTake: () => localTakes++,
    });
  });

  afterEach(() => store.close());

  test('when the shared store answers, then takes go to it', async () => {
    expect((await store.take('k', spec, 1)).remaining).toBe(999);
    expect(store.isDegraded).toBe(false);
    expect(localTakes).toBe(0);
  });

  test('when the shared store fails, then the take is served locally, and the shared store is retried only after the retry interval', async () => {
    shared.mode = 'fail';
    expect((await store.take('k', spec, 1)).remaining).toBe(9);
    expect(store.isDegraded).toBe(true);
    shared.mode = 'answer';
    expect((await store.take('k', spec, 1)).remaining).toBe(8);
    expect(shared.takes).toBe(1);
    clock.advance(1000);
    expect((await store.take('k', spec, 1)).remaining).toBe(999);
    expect(store.isDegraded).toBe(false);
    expect(degradedChanges).toEqual([true, false]);
    expect(localTakes).toBe(2);
  });

  test('when the shared store does not answer in time, then the take is served locally', async () => {
    shared.mode = 'hang';
    expect((await store.take('k', spec, 3)).remaining).toBe(7);
    expect(store.isDegraded).toBe(true);
  });

  test('when the store starts degraded and the shared store then answers, then it recovers on the first take', async () => {
    const started = new FailoverTokenBucketStore(shared, local, { timeoutMs: 50, retryIntervalMs: 1000, logger: pino({ level: 'silent' }), initiallyDegraded: true, onDegradedChange: (degraded) => degradedChanges.push(degraded) });
    expect(started.isDegraded).toBe(true);
    expect((await started.take('k', spec, 1)).remaining).toBe(999);
    expect(degradedChanges).toEqual([true, false]);
  });

  test('when the shared store is disconnected, then takes skip it without waiting', async () => {
    shared.connected = false;
    expect((await store.take('k', spec, 1)).remaining).toBe(9);
    expect(shared.takes).toBe(0);
    expect(degradedChanges).toEqual([true]);
  });
});
