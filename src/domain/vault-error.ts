/**
 * The outcomes a call can fail with, named after the canonical status codes
 * (google.rpc.Code) so that the transport maps them one to one.
 */
export type VaultErrorCode =
  | 'CANCELLED'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED';

/** A request field that broke a rule: becomes a google.rpc.BadRequest field violation. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export interface VaultErrorOptions {
  /** A machine-readable reason (UPPER_SNAKE_CASE): becomes a google.rpc.ErrorInfo detail. */
  readonly reason?: string;
  /** Wait at least this long before retrying: becomes RetryInfo and `retry-after`. */
  readonly retryAfterMs?: number;
  /** The fields at fault: becomes a google.rpc.BadRequest detail. */
  readonly fieldViolations?: readonly FieldViolation[];
  /** The underlying error. Logged, never sent to the client. */
  readonly cause?: unknown;
}

/**
 * An error whose message is safe to show the client. Anything thrown that is
 * not a VaultError is a bug: it reaches the client as INTERNAL with a generic
 * message, and its stack goes to the log only.
 */
export class VaultError extends Error {
  readonly retryAfterMs: number | undefined;
  readonly fieldViolations: readonly FieldViolation[];
  readonly reason: string | undefined;

  constructor(readonly code: VaultErrorCode, message: string, options: VaultErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VaultError';
    this.retryAfterMs = options.retryAfterMs;
    this.reason = options.reason;
    this.fieldViolations = options.fieldViolations ?? [];
  }
}

/** An INVALID_ARGUMENT naming one request field. */
export function invalidArgument(field: string, description: string): VaultError {
  return new VaultError('INVALID_ARGUMENT', `${field}: ${description}`, { fieldViolations: [{ field, description }] });
}
