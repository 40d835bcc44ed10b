import type { Server } from '@grpc/grpc-js';
import { VaultError } from '../../domain/vault-error';
import type { Logger } from '../../observability/create-logger';

export interface DrainOptions {
  /** SHUTDOWN_GRACE_PERIOD: how long in-flight calls may run on. */
  readonly graceMs: number;
  /**
   * After the grace period, how long the failed calls may take to answer:
   * their longest step is cancelling a running statement, whose connection
   * wait is DB_POOL_CONNECTION_TIMEOUT.
   */
  readonly settleMs: number;
  /** The retry delay the failed calls are given (RetryInfo). */
  readonly retryAfterMs: number;
  /** Fails the calls in flight with `reason`; returns how many there were. */
  readonly abortInFlight: (reason: VaultError) => number;
}

/**
 * tryShutdown refuses new calls and waits for in-flight ones. Past the grace
 * period, the calls still in flight are failed with UNAVAILABLE and RetryInfo
 * (their uncommitted batches rolled back), so that clients retry them
 * elsewhere; a reset stream would read as CANCELLED, which clients do not
 * retry. Connections still open once those answers went out are closed.
 */
export async function drainServer(server: Server, options: DrainOptions, logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    let settle: NodeJS.Timeout | undefined;
    const grace = setTimeout(() => {
      const reason = new VaultError('UNAVAILABLE', 'the server is shutting down and its grace period is over; retry the call', { retryAfterMs: options.retryAfterMs });
      const calls = options.abortInFlight(reason);
      logger.warn({ gracePeriodMs: options.graceMs, calls }, 'grace period over: failing the calls still in flight with UNAVAILABLE');
      settle = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, options.settleMs);
    }, options.graceMs);
    server.tryShutdown(() => {
      clearTimeout(grace);
      clearTimeout(settle);
      resolve();
    });
  });
}
