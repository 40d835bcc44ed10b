import { Metadata, status, type StatusObject } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, RetryInfo } from '../../gen/google/rpc/error_details';
import { Status } from '../../gen/google/rpc/status';
import { VaultError, type VaultErrorCode } from '../../domain/vault-error';

/** The metadata key of the google.rpc.Status with error details. */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
/** The ErrorInfo domain of our reasons. */
export const ERROR_DOMAIN = 'telemetry-vault';
/** Message of every error that is not a VaultError (the cause goes to the log only). */
export const INTERNAL_MESSAGE = 'internal error';

/** The one mapping from domain error codes to gRPC status codes. */
export function toGrpcCode(code: VaultErrorCode): status {
  switch (code) {
    case 'CANCELLED':
      return status.CANCELLED;
    case 'INVALID_ARGUMENT':
      return status.INVALID_ARGUMENT;
    case 'DEADLINE_EXCEEDED':
      return status.DEADLINE_EXCEEDED;
    case 'NOT_FOUND':
      return status.NOT_FOUND;
    case 'ALREADY_EXISTS':
      return status.ALREADY_EXISTS;
    case 'PERMISSION_DENIED':
      return status.PERMISSION_DENIED;
    case 'RESOURCE_EXHAUSTED':
      return status.RESOURCE_EXHAUSTED;
    case 'FAILED_PRECONDITION':
      return status.FAILED_PRECONDITION;
    case 'ABORTED':
      return status.ABORTED;
    case 'UNIMPLEMENTED':
      return status.UNIMPLEMENTED;
    case 'INTERNAL':
      return status.INTERNAL;
    case 'UNAVAILABLE':
      return status.UNAVAILABLE;
    case 'UNAUTHENTICATED':
      return status.UNAUTHENTICATED;
  }
}

/**
 * Turns anything thrown by a handler into the status sent to the client.
 * A VaultError keeps its code and message, with RetryInfo (plus `retry-after`),
 * ErrorInfo (its reason) and BadRequest details; anything else becomes INTERNAL with a generic
 * message. `metadata` (the rate-limit headers, say) is sent as trailers.
 */
export function toGrpcStatus(error: unknown, metadata: Metadata = new Metadata()): StatusObject {
  if (!(error instanceof VaultError)) {
    return { code: status.INTERNAL, details: INTERNAL_MESSAGE, metadata };
  }
  const code = toGrpcCode(error.code);
  const details: { typeUrl: string; value: Buffer }[] = [];
  if (error.retryAfterMs !== undefined) {
    const delayMs = Math.max(0, Math.ceil(error.retryAfterMs));
    details.push({
      typeUrl: 'type.googleapis.com/google.rpc.RetryInfo',
      value: Buffer.from(RetryInfo.encode({ retryDelay: { seconds: Math.floor(delayMs / 1000), nanos: (delayMs % 1000) * 1_000_000 } }).finish()),
    });
    // Whole seconds, rounded up: it agrees with RetryInfo (0 s stays 0).
    metadata.set('retry-after', String(Math.ceil(delayMs / 1000)));
  }
  if (error.reason !== undefined) {
    details.push({
      typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo',
      value: Buffer.from(ErrorInfo.encode({ reason: error.reason, domain: ERROR_DOMAIN, metadata: {} }).finish()),
    });
  }
  if (error.fieldViolations.length > 0) {
    details.push({
      typeUrl: 'type.googleapis.com/google.rpc.BadRequest',
      value: Buffer.from(
        BadRequest.encode({
          fieldViolations: error.fieldViolations.map((violation) => ({ field: violation.field, description: violation.description, reason: '', localizedMessage: undefined })),
        }).finish(),
      ),
    });
  }
  if (details.length > 0) {
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(Status.encode({ code, message: error.message, details }).finish()));
  }
  return { code, details: error.message, metadata };
}
