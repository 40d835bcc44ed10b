import { VaultError } from '../vault-error';
import type { AuthFailureLimiter } from './auth-failure-limiter';
import type { Authenticator, Principal } from './authenticator';

/** What a call presents to be authenticated. */
export interface Credentials {
  /**
   * The API key the call carries; undefined when it carries none, or two
   * different ones (which is refused like a wrong key: the server cannot
   * tell which one the client meant).
   */
  readonly apiKey: string | undefined;
  /** The client's address, whose budget of failed authentications the check spends (asked only when the key must be checked). */
  readonly address: () => string;
}

/** Told of every call refused for its key (for metrics). */
export interface AuthenticationObserver {
  unauthenticated(): void;
}

/**
 * Authenticates calls by API key. A key this instance verified within the
 * cache TTL passes at once; any other call is checked within its client
 * address's budget of failed authentications (see AuthFailureLimiter), so
 * that a guesser is slowed down while clients with valid keys behind the
 * same address keep working. A key being checked for another call right now
 * is not checked (nor budgeted) again: a client that opens many calls at
 * once with a key not yet cached must not look like a guesser. When that
 * check fails, each call makes its own, so that every failure still counts.
 */
export class CallAuthentication {
  /** Keys being checked now, with their checks. */
  private readonly checking = new Map<string, Promise<Principal>>();

  constructor(
    private readonly authenticator: Authenticator,
    private readonly failures: AuthFailureLimiter,
    private readonly observer: AuthenticationObserver = { unauthenticated: () => undefined },
  ) {}

  /** The caller's principal; throws UNAUTHENTICATED (always the same message) or the failure limit's RESOURCE_EXHAUSTED. */
  async authenticate(credentials: Credentials): Promise<Principal> {
    const key = credentials.apiKey;
    const verified = this.authenticator.recentlyVerified(key);
    if (verified) return verified;
    const running = key === undefined ? undefined : this.checking.get(key);
    const shared = running && (await running.catch(() => undefined));
    return shared ?? this.check(credentials);
  }

  /** A budgeted check, known to calls with the same key while it runs. */
  private check(credentials: Credentials): Promise<Principal> {
    const key = credentials.apiKey;
    const checking = this.failures.guard(credentials.address(), () => this.authenticator.authenticate(key)).catch((error: unknown) => {
      if (error instanceof VaultError && error.code === 'UNAUTHENTICATED') this.observer.unauthenticated();
      throw error;
    });
    if (key !== undefined) {
      this.checking.set(key, checking);
      const forget = (): void => {
        if (this.checking.get(key) === checking) this.checking.delete(key);
      };
      checking.then(forget, forget);
    }
    return checking;
  }
}
