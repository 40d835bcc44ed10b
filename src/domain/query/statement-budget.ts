import type { CallContext } from '../call-context';
import { VaultError } from '../vault-error';
import type { QueryBudget } from './event-reader';

/**
 * The budget of the next database round of a call: the configured statement
 * timeout, or what is left of the call's deadline when that is shorter. A
 * call already past its deadline fails with DEADLINE_EXCEEDED without
 * touching the database; a cancelled one with its cancellation.
 */
export function statementBudget(ctx: CallContext, maxTimeoutMs: number, now: number): QueryBudget {
  if (ctx.signal.aborted) throw ctx.signal.reason;
  let timeoutMs = maxTimeoutMs;
  if (ctx.deadline !== undefined) {
    const remainingMs = Math.floor(ctx.deadline - now);
    if (remainingMs <= 0) throw new VaultError('DEADLINE_EXCEEDED', 'the call ran past its deadline');
    timeoutMs = Math.min(timeoutMs, remainingMs);
  }
  return { timeoutMs: Math.max(1, timeoutMs), signal: ctx.signal };
}
