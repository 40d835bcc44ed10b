import net from 'node:net';
import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { clientAddressOf } from '../../../domain/auth/client-address';
import type { CallAuthentication } from '../../../domain/auth/call-authentication';
import type { RateLimiter } from '../../../domain/rate-limit/rate-limiter';
import { toGrpcStatus } from '../to-grpc-status';
import { apiKeyOf } from './api-key-of';
import type { CallScope, CallScopes } from './call-scopes';
import type { MethodPolicies, MethodPolicy } from './method-policy';

export interface AdmissionDependencies {
  readonly authentication: CallAuthentication;
  readonly limiter: RateLimiter;
  /**
   * AUTH_FAILURE_PEER_HEADER: a metadata key (`x-forwarded-for`) in which a
   * trusted proxy in front of the server puts the client's address; its last
   * entry, when it is an IP address, counts instead of the transport peer
   * (which behind a proxy is the proxy). Unset = the transport peer.
   */
  readonly peerHeader: string | undefined;
}

/**
 * The interceptor that admits calls to the vault's services on their request
 * metadata alone, before any message is read or decoded: the API key
 * (authentication within the address's budget of failed authentications),
 * then the tenant's calls token (one round trip to the bucket store, which
 * also reads the bucket the x-ratelimit-* metadata describes). A refused call
 * ends here with its status; its handler never runs. An admitted call's
 * scope carries its principal to the handler.
 */
export function admitCalls(scopes: CallScopes, policies: MethodPolicies, deps: AdmissionDependencies): ServerInterceptor {
  return (descriptor, call) => {
    const policy = policies.get(descriptor.path);
    if (policy === undefined) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const scope = scopes.of(metadata);
            if (scope === undefined) throw new Error(`no call scope for ${descriptor.path}: observeCalls must run before admitCalls`);
            admit(scope, metadata, policy, deps).then(
              () => nextMetadata(metadata),
              (error: unknown) => {
                scope.failure = error;
                call.sendStatus(toGrpcStatus(error));
              },
            );
          },
        }),
    });
  };
}

async function admit(scope: CallScope, metadata: Metadata, policy: MethodPolicy, deps: AdmissionDependencies): Promise<void> {
  let address: string | undefined;
  const clientAddress = (): string => (address ??= clientAddressFrom(metadata, scope.peer, deps.peerHeader));
  try {
    scope.principal = await deps.authentication.authenticate({ apiKey: apiKeyOf(metadata), address: clientAddress });
  } catch (error) {
    // Refused calls have no tenant to tell them apart: the address does.
    scope.logger = scope.logger.child({ clientAddress: clientAddress() });
    throw error;
  }
  const { tenant, keyId } = scope.principal;
  scope.logger = scope.logger.child({ tenant: tenant.name, tenantId: tenant.id, keyId });
  if (policy.callsToken !== 'admission') return;
  const decision = await deps.limiter.take({ tenant, method: scope.method }, { calls: 1 }, policy.reports);
  scope.rateLimit = decision.status;
  if (decision.refusal) throw decision.refusal;
}

function clientAddressFrom(metadata: Metadata, peer: string, peerHeader: string | undefined): string {
  if (peerHeader !== undefined) {
    const forwarded = metadata.get(peerHeader).at(-1);
    const last = typeof forwarded === 'string' ? forwarded.split(',').at(-1)?.trim() : undefined;
    if (last !== undefined && net.isIP(last) !== 0) return clientAddressOf(last, false);
  }
  return clientAddressOf(peer);
}
