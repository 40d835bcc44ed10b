import type { Metadata } from '@grpc/grpc-js';
import type { Authenticator } from '../../domain/auth/authenticator';
import type { CallContext } from '../../domain/call-context';
import type { CallAdmission } from './call-pipeline';

/** Admits a call when it carries a valid API key, and binds the call to the key's tenant. */
export class ApiKeyAdmission implements CallAdmission {
  constructor(private readonly authenticator: Authenticator) {}

  async admit(ctx: CallContext, metadata: Metadata): Promise<void> {
    const principal = await this.authenticator.authenticate(apiKeyOf(metadata));
    ctx.tenant = principal.tenant;
    ctx.logger = ctx.logger.child({ tenant: principal.tenant.name, tenantId: principal.tenant.id, keyId: principal.keyId });
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
