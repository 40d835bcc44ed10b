import pino from 'pino';
import { AUTH_FAILURE_LIMIT_REASON, AuthFailureLimiter } from '../../src/domain/auth/auth-failure-limiter';
import { FailoverTokenBucketStore, type SharedTokenBucketStore } from '../../src/domain/rate-limit/failover-token-bucket-store';
import { MemoryTokenBucketStore } from '../../src/domain/rate-limit/memory-token-bucket-store';
import type { BucketSpec, BucketState, BucketTake } from '../../src/domain/rate-limit/token-bucket-store';
import { VaultError } from '../../src/domain/vault-error';

/** A clock the test moves by hand. */
class FakeClock {
  constructor(public nowMs = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

const badKey = (): Promise<never> => Promise.reject(new VaultError('UNAUTHENTICATED', 'missing or invalid API key'));
const goodKey = (): Promise<string> => Promise.resolve('principal');

/** The outcome of a guarded call: 'ok', or the refusing error's code (and reason). */
async function outcome(limiter: AuthFailureLimiter, address: string, attempt: () => Promise<unknown>): Promise<string> {
  try {
    await limiter.guard(address, attempt);
    return 'ok';
  } catch (error) {
    if (!(error instanceof VaultError)) throw error;
    return error.reason === undefined ? error.code : `${error.code} ${error.reason}`;
  }
}

const THROTTLED = `RESOURCE_EXHAUSTED ${AUTH_FAILURE_LIMIT_REASON}`;

describe('AuthFailureLimiter', () => {
  let clock: FakeClock;
  let store: MemoryTokenBucketStore;
  let limiter: AuthFailureLimiter;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryTokenBucketStore({ now: clock.now });
    limiter = new AuthFailureLimiter(store, { perMinute: 60, burst: 5 });
  });

  afterEach(() => store.close());

  test('when an address fails more than its burst, then the next calls are refused before the check, with RetryInfo and a message naming the limit', async () => {
    const attempts: string[] = [];
    for (let i = 0; i < 5; i++) attempts.push(await outcome(limiter, '10.0.0.1', badKey));
    expect(attempts).toEqual(Array(5).fill('UNAUTHENTICATED'));
    let checked = false;
    const refused = await limiter.guard('10.0.0.1', () => {
      checked = true;
      return goodKey();
    }).catch((error: unknown) => error as VaultError);
    expect(checked).toBe(false);
    expect(refused).toBeInstanceOf(VaultError);
    expect(refused).toMatchObject({ code: 'RESOURCE_EXHAUSTED', reason: AUTH_FAILURE_LIMIT_REASON, retryAfterMs: 1000 });
    expect((refused as VaultError).message).toBe('too many failed authentications from this address (at most 5 in a row, then 60 per minute); retry in 1 s');
  });

  test('when an address is throttled, then the answer is the same whatever key the call carries', async () => {
    for (let i = 0; i < 5; i++) await outcome(limiter, '10.0.0.1', badKey);
    expect(await outcome(limiter, '10.0.0.1', badKey)).toBe(THROTTLED);
    expect(await outcome(limiter, '10.0.0.1', goodKey)).toBe(THROTTLED);
  });

  test('when time passes, then the budget refills at the configured rate', async () => {
    for (let i = 0; i < 5; i++) await outcome(limiter, '10.0.0.1', badKey);
    clock.advance(999);
    expect(await outcome(limiter, '10.0.0.1', badKey)).toBe(THROTTLED);
    clock.advance(1);
    expect(await outcome(limiter, '10.0.0.1', badKey)).toBe('UNAUTHENTICATED');
    expect(await outcome(limiter, '10.0.0.1', badKey)).toBe(THROTTLED);
    clock.advance(5000);
    expect(await outcome(limiter, '10.0.0.1', goodKey)).toBe('ok');
    expect((await store.take('tv:af:{10.0.0.1}', { capacity: 5, refillPerSecond: 1 }, 0)).remaining).toBe(5);
  });

  test('when keys are valid, or the check fails for another reason, then the reserved token is given back', async () => {
    for (let i = 0; i < 50; i++) expect(await outcome(limiter, '10.0.0.1', goodKey)).toBe('ok');
    const databaseDown = (): Promise<never> => Promise.reject(new VaultError('UNAVAILABLE', 'database unavailable'));
    for (let i = 0; i < 50; i++) expect(await outcome(limiter, '10.0.0.1', databaseDown)).toBe('UNAVAILABLE');
    expect((await store.take('tv:af:{10.0.0.1}', { capacity: 5, refillPerSecond: 1 }, 0)).remaining).toBe(5);
  });

  test('when one address is throttled, then another address keeps its whole budget', async () => {
    for (let i = 0; i < 6; i++) await outcome(limiter, '10.0.0.1', badKey);
    expect(await outcome(limiter, '10.0.0.1', badKey)).toBe(THROTTLED);
    for (let i = 0; i < 5; i++) expect(await outcome(limiter, '10.0.0.2', badKey)).toBe('UNAUTHENTICATED');
  });

  test('when many guesses run at once, then no more of them are checked than the budget holds', async () => {
    let checked = 0;
    const slowBadKey = async (): Promise<never> => {
      checked++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return badKey();
    };
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => outcome(limiter, '10.0.0.1', slowBadKey)));
    expect(checked).toBe(5);
    expect(outcomes.filter((result) => result === 'UNAUTHENTICATED')).toHaveLength(5);
    expect(outcomes.filter((result) => result === THROTTLED)).toHaveLength(35);
  });

  test('when AUTH_FAILURES_PER_MINUTE is 0, then nothing is limited', async () => {
    const off = new AuthFailureLimiter(store, { perMinute: 0, burst: 1 });
    for (let i = 0; i < 20; i++) expect(await outcome(off, '10.0.0.1', badKey)).toBe('UNAUTHENTICATED');
    expect(store.size).toBe(0);
  });
});

describe('MemoryTokenBucketStore with a cap', () => {
  const spec: BucketSpec = { capacity: 3, refillPerSecond: 1 };

  test('when more buckets are used than the cap, then the least recently used are forgotten (start full again)', async () => {
    const clock = new FakeClock();
    const store = new MemoryTokenBucketStore({ now: clock.now, maxEntries: 2 });
    await store.take('a', spec, 3);
    await store.take('b', spec, 3);
    await store.take('a', spec, 0);
    await store.take('c', spec, 3);
    expect(store.size).toBe(2);
    expect((await store.take('a', spec, 0)).remaining).toBe(0);
    expect((await store.take('c', spec, 0)).remaining).toBe(0);
    expect((await store.take('b', spec, 0)).remaining).toBe(3);
    await store.close();
  });

  test('when tokens are given back (a negative take), then the bucket regains them, never beyond its capacity', async () => {
    const clock = new FakeClock();
    const store = new MemoryTokenBucketStore({ now: clock.now });
    await store.take('a', spec, 2);
    expect(await store.take('a', spec, -1)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await store.take('a', spec, -5)).toMatchObject({ allowed: true, remaining: 3 });
    expect(store.size).toBe(0);
    await store.close();
  });
});

/** A shared store the test switches between answering and failing. */
class SwitchableSharedStore implements SharedTokenBucketStore {
  connected = true;
  failing = false;
  async take(_key: string, _spec: BucketSpec, count: number): Promise<BucketState> {
    if (this.failing) throw new Error('connection lost');
    return { allowed: true, remaining: 100 - count, retryAfterMs: 0, resetAtMs: 0 };
  }
  async takeAll(takes: readonly BucketTake[]): Promise<BucketState[]> {
    return Promise.all(takes.map((take) => this.take(take.key, take.spec, take.count)));
  }
  async close(): Promise<void> {}
}

describe('FailoverTokenBucketStore.alongside', () => {
  test('when the shared store fails, then both views fall back together, each to buckets of its own, with one outage reported', async () => {
    const clock = new FakeClock();
    const shared = new SwitchableSharedStore();
    const tenantsLocal = new MemoryTokenBucketStore({ now: clock.now });
    const addressesLocal = new MemoryTokenBucketStore({ now: clock.now, maxEntries: 10 });
    const changes: boolean[] = [];
    const tenants = new FailoverTokenBucketStore(shared, tenantsLocal, { timeoutMs: 50, retryIntervalMs: 1000, logger: pino({ level: 'silent' }), now: clock.now, onDegradedChange: (degraded) => changes.push(degraded) });
    const addresses = tenants.alongside(addressesLocal);
    const spec: BucketSpec = { capacity: 10, refillPerSecond: 1 };

    expect((await addresses.take('k', spec, 1)).remaining).toBe(99);
    shared.failing = true;
    expect((await addresses.take('k', spec, 4)).remaining).toBe(6);
    expect(tenants.isDegraded).toBe(true);
    expect((await tenants.take('k', spec, 1)).remaining).toBe(9);
    expect(addressesLocal.size).toBe(1);
    expect(tenantsLocal.size).toBe(1);
    shared.failing = false;
    clock.advance(1000);
    expect((await addresses.take('k', spec, 1)).remaining).toBe(99);
    expect(tenants.isDegraded).toBe(false);
    expect(changes).toEqual([true, false]);
    await addresses.close();
    await tenants.close();
  });
});
