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
  constructor(
    private readonly authenticator: Authenticator,
    private readonly options: ApiKeyAdmissionOptions,
  ) {}

  async admit(ctx: CallContext, metadata: Metadata): Promise<void> {
    const key = apiKeyOf(metadata);
    const principal = this.authenticator.recentlyVerified(key) ?? (await this.verify(ctx, metadata, key));
    ctx.tenant = principal.tenant;
    ctx.logger = ctx.logger.child({ tenant: principal.tenant.name, tenantId: principal.tenant.id, keyId: principal.keyId });
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
