import { VaultError } from '../domain/vault-error';

/** SQLSTATE classes and codes that mean "the database is not there right now". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53100', '53200', '58000', '58030', '55P03']);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);

/** How long a client should wait before retrying when the database is unavailable. */
export const DATABASE_RETRY_AFTER_MS = 1000;

/** How long to wait before retrying a transaction that conflicted with another: the other one is about done. */
export const CONFLICT_RETRY_AFTER_MS = 100;

/**
 * The one place where PostgreSQL and pg errors become domain errors. Returns
 * the error unchanged when it is not one we know how to classify (the
 * transport then treats it as INTERNAL).
 */
export function mapPgError(error: unknown): unknown {
  if (error instanceof VaultError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  if (typeof code === 'string') {
    if (code === '57014') return new VaultError('DEADLINE_EXCEEDED', 'the query ran past its time limit', { cause: error });
    if (code === '23505') return new VaultError('ALREADY_EXISTS', 'already exists', { cause: error });
    if (code === '40001' || code === '40P01') return new VaultError('ABORTED', 'the transaction conflicted with another; retry the call', { cause: error, retryAfterMs: CONFLICT_RETRY_AFTER_MS });
    if (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code)) return unavailable(error);
  }
  if (/timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(message)) {
    return unavailable(error);
  }
  return error;
}

/** Whether `error` says the database cannot be reached or is not accepting connections (not: a pool that is merely full). */
export function isDatabaseUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code));
}

function unavailable(cause: unknown): VaultError {
  return new VaultError('UNAVAILABLE', 'the database is unavailable; retry the call', { cause, retryAfterMs: DATABASE_RETRY_AFTER_MS });
}
