import type pg from 'pg';
import type { Logger } from '../observability/create-logger';
import type { DatabaseProbe } from './database-probe';
import { checkOut, type ConnectionSource } from './database-session';
import { isDatabaseUnreachable } from './map-pg-error';

/**
 * Where QueryService gets its connections when DATABASE_READ_URL names a
 * replica: the replica while it answers, the primary while it does not, so
 * that a dead replica does not take queries down while the primary can serve
 * them (issue 17 measured both: without this, every query failed UNAVAILABLE
 * for as long as the replica was down).
 *
 * "Does not answer" is the replica's health probe (HEALTH_CHECK_INTERVAL), or
 * sooner a connection attempt that fails because the replica cannot be
 * reached (refused, reset, shutting down, in recovery start-up): that call
 * goes to the primary at once and the probe is re-run. A replica pool that is
 * merely full is not a reason: its calls wait, as without a replica. Reads
 * come back to the replica as soon as its probe succeeds again. A replica
 * that lags is still used (see docs/scaling.md: reads are not
 * read-your-writes).
 */
export class ReadFailover implements ConnectionSource {
  private onPrimary = false;

  constructor(
    private readonly replica: pg.Pool,
    /** The primary's share for reads (ReadShare). */
    private readonly primary: ConnectionSource,
    private readonly replicaProbe: DatabaseProbe,
    private readonly logger: Logger,
  ) {
    replicaProbe.onChange((reachable) => this.route(!reachable, 'the read replica health probe'));
  }

  /** Whether reads go to the primary right now. */
  get readingFromPrimary(): boolean {
    return this.onPrimary || !this.replicaProbe.reachable;
  }

  connect(): Promise<pg.PoolClient> {
    return this.acquire(undefined);
  }

  /** connect, failing with the signal's reason as soon as it aborts while the read waits (it leaves the primary share's line too). */
  connectUntilAborted(signal: AbortSignal): Promise<pg.PoolClient> {
    return this.acquire(signal);
  }

  private async acquire(signal: AbortSignal | undefined): Promise<pg.PoolClient> {
    if (!this.readingFromPrimary) {
      try {
        return await checkOut(this.replica, signal);
      } catch (error) {
        if (!isDatabaseUnreachable(error)) throw error;
        this.route(true, `a connection to the read replica failed (${error instanceof Error ? error.message : String(error)})`);
        void this.replicaProbe.probe();
      }
    }
    return checkOut(this.primary, signal);
  }

  private route(toPrimary: boolean, reason: string): void {
    if (toPrimary === this.onPrimary) return;
    this.onPrimary = toPrimary;
    if (toPrimary) this.logger.warn({ reason }, 'the read replica is unreachable: queries read from the primary until it answers again');
    else this.logger.info('the read replica answers again: queries read from it');
  }
}
