import type { ServiceError } from '@grpc/grpc-js';
import { classify, isServiceError, retryDelayMs, type BackoffOptions } from './retry';

/** A retry of a query call, as QueryRetryOptions.onRetry sees it. */
export interface QueryRetry {
  readonly method: 'QueryEvents' | 'StreamEvents' | 'Aggregate';
  /** The attempt that failed (1 for the first). */
  readonly attempt: number;
  /** The wait before the next attempt. */
  readonly delayMs: number;
  readonly error: ServiceError;
}

/** How queries are retried (docs/sdk.md, "Query retries"). */
export interface QueryRetryOptions extends BackoffOptions {
  /**
   * Attempts per call, the first included (default 5; 1 turns retries off).
   * For events(): attempts in a row that yield no new event.
   */
  readonly maxAttempts?: number;
  /** Called before each retry (for the application's logs and metrics). */
  readonly onRetry?: (retry: QueryRetry) => void;
}

/** What a failed query attempt leads to: the wait before the next one, or undefined to give the error to the caller. */
export function queryRetryDelay(error: unknown, method: QueryRetry['method'], attempt: number, options: QueryRetryOptions, deadline: number | undefined): number | undefined {
  if (!isServiceError(error)) return undefined;
  const decision = classify(error);
  if (!decision.retry || attempt >= (options.maxAttempts ?? 5)) return undefined;
  const delayMs = retryDelayMs(attempt, decision.retryInfoMs, options);
  // A deadline of the caller's that the wait would pass ends it here.
  if (deadline !== undefined && Date.now() + delayMs >= deadline) return undefined;
  try {
    options.onRetry?.({ method, attempt, delayMs, error });
  } catch {
    // The application's callback failing must not change the query.
  }
  return delayMs;
}

/**
 * A unary query with the contract's retries (section 8): the same request
 * again after the RetryInfo delay or a backoff with jitter, each attempt with
 * its own deadline, at most `maxAttempts` in all.
 */
export async function retryQuery<T>(method: QueryRetry['method'], options: QueryRetryOptions, attempt: () => Promise<T>): Promise<T> {
  for (let number = 1; ; number++) {
    try {
      return await attempt();
    } catch (error) {
      const delayMs = queryRetryDelay(error, method, number, options, undefined);
      if (delayMs === undefined) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
