import type { CallContext } from './call-context';
import { VaultError } from './vault-error';

/** How long one database round of a call may run, and when to give up on it. */
export interface StatementBudget {
  /** The statement timeout, in milliseconds (at least 1). */
  readonly timeoutMs: number;
  /** Aborted when the call is stopped (the client went away, or the server fails it): the work stops and gives back its connection at once. */
  readonly signal: AbortSignal;
}

/** The error of a call that ran out of time before its database work could start. */
export function pastDeadline(): VaultError {
  return new VaultError('DEADLINE_EXCEEDED', 'the call ran past its deadline');
}

/**
 * The budget of the next database round of a call: the configured statement
 * timeout, or what is left of the call's deadline when that is shorter. A
 * call already past its deadline fails with DEADLINE_EXCEEDED without
 * touching the database; a stopped one with its signal's reason.
 */
export function statementBudget(ctx: Pick<CallContext, 'deadline' | 'signal'>, maxTimeoutMs: number, now: number): StatementBudget {
  if (ctx.signal.aborted) throw ctx.signal.reason;
  let timeoutMs = maxTimeoutMs;
  if (ctx.deadline !== undefined) {
    const remainingMs = Math.floor(ctx.deadline - now);
    if (remainingMs <= 0) throw pastDeadline();
    timeoutMs = Math.min(timeoutMs, remainingMs);
  }
  return { timeoutMs: Math.max(1, timeoutMs), signal: ctx.signal };
}
