import net from 'node:net';
import type { Metadata } from '@grpc/grpc-js';
import type { AuthFailureLimiter } from '../../domain/auth/auth-failure-limiter';
import type { Authenticator, Principal } from '../../domain/auth/authenticator';
import { clientAddressOf } from '../../domain/auth/client-address';
import type { CallContext } from '../../domain/call-context';
import type { CallAdmission } from './call-pipeline';

export interface ApiKeyAdmissionOptions {
  /** The budget of failed authentications per client address. */
  readonly failures: AuthFailureLimiter;
  /**
   * AUTH_FAILURE_PEER_HEADER: a metadata key (`x-forwarded-for`) in which a
   * trusted proxy in front of the server puts the client's address; its last
   * entry, when it is an IP address, counts instead of the transport peer
   * (which behind a proxy is the proxy). Unset = the transport peer.
   */
  readonly peerHeader: string | undefined;
}

/**
 * Admits a call when it carries a valid API key, and binds the call to the
 * key's tenant. A key this instance verified within the cache TTL passes at
 * once; any other call is checked within its client address's budget of
 * failed authentications (see AuthFailureLimiter), so that a guesser is slowed
 * down while clients with valid keys behind the same address keep working.
 */
export class ApiKeyAdmission implements CallAdmission {
  /** Keys being checked now, with their checks. */
  private readonly checking = new Map<string, Promise<Principal>>();

  constructor(
    private readonly authenticator: Authenticator,
    private readonly options: ApiKeyAdmissionOptions,
  ) {}

  async admit(ctx: CallContext, metadata: Metadata): Promise<void> {
    const key = apiKeyOf(metadata);
    // A key being checked for another call right now is not checked (nor budgeted) again: a client
    // that opens many calls at once with a key not yet cached must not look like a guesser. When that
    // check fails, each call makes its own, so that every failure still counts.
    const running = key === undefined ? undefined : this.checking.get(key);
    const principal = this.authenticator.recentlyVerified(key) ?? (running && (await running.catch(() => undefined))) ?? (await this.check(ctx, metadata, key));
    ctx.tenant = principal.tenant;
    ctx.logger = ctx.logger.child({ tenant: principal.tenant.name, tenantId: principal.tenant.id, keyId: principal.keyId });
  }

  /** verify(), known to calls with the same key while it runs. */
  private check(ctx: CallContext, metadata: Metadata, key: string | undefined): Promise<Principal> {
    const checking = this.verify(ctx, metadata, key);
    if (key !== undefined) {
      this.checking.set(key, checking);
      const forget = (): void => {
        if (this.checking.get(key) === checking) this.checking.delete(key);
      };
      checking.then(forget, forget);
    }
    return checking;
  }

  private async verify(ctx: CallContext, metadata: Metadata, key: string | undefined): Promise<Principal> {
    const address = this.clientAddress(ctx, metadata);
    try {
      return await this.options.failures.guard(address, () => this.authenticator.authenticate(key));
    } catch (error) {
      // Refused calls have no tenant to tell them apart: the address does.
      ctx.logger = ctx.logger.child({ clientAddress: address });
      throw error;
    }
  }

  private clientAddress(ctx: CallContext, metadata: Metadata): string {
    if (this.options.peerHeader !== undefined) {
      const forwarded = metadata.get(this.options.peerHeader).at(-1);
      const last = typeof forwarded === 'string' ? forwarded.split(',').at(-1)?.trim() : undefined;
      if (last !== undefined && net.isIP(last) !== 0) return clientAddressOf(last, false);
    }
    return clientAddressOf(ctx.peer ?? 'unknown');
  }
}

/** The key from `x-api-key`, else from `authorization: Bearer <key>`. */
export function apiKeyOf(metadata: Metadata): string | undefined {
  const direct = metadata.get('x-api-key')[0];
  if (typeof direct === 'string' && direct !== '') return direct.trim();
  const authorization = metadata.get('authorization')[0];
  if (typeof authorization !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}
