import { AuthFailureLimiter } from '../../src/domain/auth/auth-failure-limiter';
import { Authenticator, type KeyMatch } from '../../src/domain/auth/authenticator';
import { CallAuthentication } from '../../src/domain/auth/call-authentication';
import { MemoryTokenBucketStore } from '../../src/domain/rate-limit/memory-token-bucket-store';
import { generateApiKey } from '../../src/domain/tenants/api-key';
import { VaultError } from '../../src/domain/vault-error';

/** A key store whose lookups the test answers by hand, as a database that takes its time. */
class SlowLookup {
  readonly waiting: ((match: KeyMatch | undefined) => void)[] = [];
  queries = 0;

  findByHash(): Promise<KeyMatch | undefined> {
    this.queries++;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  answer(match: KeyMatch | undefined): void {
    for (const resolve of this.waiting.splice(0)) resolve(match);
  }
}

const match: KeyMatch = { keyId: 'k1', tenant: { id: 't1', name: 'acme', createdAt: new Date(0), callsPerMinute: undefined, eventsPerSecond: undefined, eventBurst: undefined }, expiresAt: undefined, revokedAt: undefined };

/** A call from one address carrying `key`. */
function credentials(key: string): { apiKey: string; address: () => string } {
  return { apiKey: key, address: () => '10.0.0.7' };
}

/** How each admission ended: 'ok' or the refusal's code and reason. */
async function outcomes(admissions: Promise<unknown>[]): Promise<string[]> {
  return Promise.all(admissions.map((admission) => admission.then(() => 'ok', (error: unknown) => (error instanceof VaultError ? `${error.code}${error.reason ? ` ${error.reason}` : ''}` : String(error)))));
}

describe('CallAuthentication and the failed-authentication budget', () => {
  let store: MemoryTokenBucketStore;
  let lookup: SlowLookup;
  let authentication: CallAuthentication;

  beforeEach(() => {
    store = new MemoryTokenBucketStore();
    lookup = new SlowLookup();
    const authenticator = new Authenticator(lookup, { cacheTtlMs: 2000, cacheMaxEntries: 100 });
    authentication = new CallAuthentication(authenticator, new AuthFailureLimiter(store, { perMinute: 60, burst: 3 }));
  });

  afterEach(() => store.close());

  test('when many calls with one valid key not yet cached arrive together, then one lookup checks it and every call is admitted, whatever the budget', async () => {
    const key = generateApiKey().key;
    const calls = Array.from({ length: 20 }, () => authentication.authenticate(credentials(key)));
    await new Promise((resolve) => setImmediate(resolve));
    lookup.answer(match);
    expect(await outcomes(calls)).toEqual(Array(20).fill('ok'));
    expect(lookup.queries).toBe(1);
  });

  test('when many calls with one unknown key arrive together, then each still counts as a failure: past the budget they are throttled', async () => {
    const key = generateApiKey().key;
    const calls = Array.from({ length: 6 }, () => authentication.authenticate(credentials(key)));
    await new Promise((resolve) => setImmediate(resolve));
    lookup.answer(undefined);
    const ended = await outcomes(calls);
    expect(ended.filter((outcome) => outcome === 'UNAUTHENTICATED')).toHaveLength(3);
    expect(ended.filter((outcome) => outcome === 'RESOURCE_EXHAUSTED RATE_LIMITED_AUTH_FAILURES')).toHaveLength(3);
  });
});
