import net from 'node:net';
import { ServerInterceptingCall, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { invalidArgument } from '../../../domain/vault-error';
import { clientAddressOf } from '../../../domain/auth/client-address';
import type { CallAuthentication } from '../../../domain/auth/call-authentication';
import type { RateLimiter } from '../../../domain/rate-limit/rate-limiter';
import { toGrpcStatus } from '../to-grpc-status';
import { apiKeyOf } from './api-key-of';
import type { CallScope, CallScopes } from './call-scopes';
import type { MethodPolicies, MethodPolicy } from './method-policy';
import { INVALID_TIMEOUT_METADATA } from './normalize-request-headers';

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
    let admitted: CallScope | undefined;
    let charged = false;
    // Every admitted call spends one calls token, whatever its outcome. A unary Ingest takes its token with its
    // events, once its message is decoded; when it ends before that (its message was malformed, or larger than
    // GRPC_MAX_RECEIVE_MESSAGE_SIZE, which grpc-js refuses below the interceptors and reports as a cancel), the
    // token is taken here, so that refused messages are not free.
    const chargeUntaken = async (): Promise<void> => {
      const scope = admitted;
      if (charged || policy.callsToken !== 'with-events' || scope?.principal === undefined || scope.rateLimit !== undefined) return;
      charged = true;
      await deps.limiter
        .take({ tenant: scope.principal.tenant, method: scope.method }, { calls: 1 }, 'calls')
        .catch((error: unknown) => scope.logger.warn({ err: error }, 'could not take the calls token of a refused call'));
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const scope = scopes.of(metadata);
            if (scope === undefined) throw new Error(`no call scope for ${descriptor.path}: observeCalls must run before admitCalls`);
            const invalidTimeout = metadata.get(INVALID_TIMEOUT_METADATA)[0];
            if (invalidTimeout !== undefined) {
              scope.failure = invalidArgument('grpc-timeout', `"${String(invalidTimeout)}" is not a timeout: send 1 to 8 digits and a unit (H, M, S, m, u or n), such as 500m`);
              call.sendStatus(toGrpcStatus(scope.failure));
              return;
            }
            admit(scope, metadata, policy, deps).then(
              () => {
                admitted = scope;
                nextMetadata(metadata);
              },
              (error: unknown) => {
                scope.failure = error;
                call.sendStatus(toGrpcStatus(error));
              },
            );
          },
          onCancel: () => {
            // Also told after every status; a running handler still answers through sendStatus below.
            if (admitted !== undefined && !admitted.handling) void chargeUntaken();
          },
        }),
      sendStatus: (status, next) => {
        if (status.code === 0) {
          next(status);
          return;
        }
        void chargeUntaken().finally(() => next(status));
      },
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
    scope.bindLog({ clientAddress: clientAddress() });
    throw error;
  }
  const { tenant, keyId } = scope.principal;
  scope.bindLog({ tenant: tenant.name, tenantId: tenant.id, keyId });
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
