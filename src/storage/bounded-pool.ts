import pg from 'pg';
import { VaultError } from '../domain/vault-error';
import { DATABASE_RETRY_AFTER_MS } from './map-pg-error';

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

export interface BoundedPoolConfig extends pg.PoolConfig {
  /** Most callers waiting for a connection; one more is refused at once (0 = never wait). */
  readonly maxWaiting: number;
}

/**
 * A pg pool whose queue of callers waiting for a connection is bounded: when
 * every connection is busy and `maxWaiting` callers already wait, the next
 * one gets UNAVAILABLE with a retry delay at once instead of joining an
 * unbounded queue. Waiting itself is bounded by connectionTimeoutMillis
 * (DB_POOL_CONNECTION_TIMEOUT). Applies to pool.query too, which connects
 * through connect().
 */
export class BoundedPool extends pg.Pool {
  private readonly maxWaiting: number;

  constructor(config: BoundedPoolConfig) {
    const { maxWaiting, ...poolConfig } = config;
    super(poolConfig);
    this.maxWaiting = maxWaiting;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (this.mustRefuse()) {
      const error = new VaultError('UNAVAILABLE', `the server is overloaded: every database connection is busy and ${this.maxWaiting} calls already wait for one; retry the call`, {
        retryAfterMs: DATABASE_RETRY_AFTER_MS,
      });
      if (callback === undefined) return Promise.reject(error);
      process.nextTick(() => callback(error, undefined, () => undefined));
      return;
    }
    return callback === undefined ? super.connect() : super.connect(callback);
  }

  /** Whether a new caller would have to wait and the queue is full. */
  private mustRefuse(): boolean {
    const saturated = this.idleCount === 0 && this.totalCount >= (this.options.max ?? 10);
    return saturated && this.waitingCount >= this.maxWaiting;
  }
}
