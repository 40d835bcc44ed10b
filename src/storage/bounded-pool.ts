import pg from 'pg';
import { VaultError } from '../domain/vault-error';
import { untilAborted } from './database-session';
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
/** pg.Pool's own default `max`, for a pool created without one. */
const PG_DEFAULT_POOL_MAX = 10;

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
    const saturated = this.saturated();
    if (saturated && this.waitingCount >= this.maxWaiting) {
      const error = new VaultError('UNAVAILABLE', `the server is overloaded: every database connection is busy and ${this.maxWaiting} calls already wait for one; retry the call`, {
        retryAfterMs: DATABASE_RETRY_AFTER_MS,
      });
      if (callback === undefined) return Promise.reject(error);
      process.nextTick(() => callback(error, undefined, () => undefined));
      return;
    }
    if (!saturated) return callback === undefined ? super.connect() : super.connect(callback);
    // This caller waits in line: past the wait, say the pool is busy (pg says only "timeout").
    if (callback === undefined) {
      return super.connect().catch((error: unknown) => {
        throw this.waitError(error);
      });
    }
    super.connect((error, client, done) => callback(error === undefined ? undefined : this.waitError(error), client, done));
  }

  /**
   * connect, for a caller that can stop while it waits (checkOut): when
   * `signal` aborts while the caller is in pg-pool's line, its entry is taken
   * out of that line, so that it no longer counts against DB_POOL_MAX_WAITING
   * and is handed no connection, and the caller fails at once with the
   * signal's reason. A connection already on its way (a new one being
   * opened, or one handed over in the same tick) goes straight back when it
   * comes. pg-pool has no public way to leave its line: this takes the entry
   * its connect() has just queued out of its `_pendingQueue` (pinned by
   * package-lock.json; when that field is not there, the caller still fails
   * at once and only the late connection goes back). pg-pool's own timer for
   * the entry still fires at the wait's end and finds nothing to time out.
   */
  connectUntilAborted(signal: AbortSignal): Promise<pg.PoolClient> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const line = (this as unknown as { _pendingQueue?: unknown })._pendingQueue;
    const queue = Array.isArray(line) ? (line as unknown[]) : undefined;
    const before = queue?.length ?? 0;
    const pending = this.connect();
    // pg-pool queues a caller that must wait at the end of its line, within connect() itself.
    const entry = queue !== undefined && queue.length === before + 1 ? queue[before] : undefined;
    return untilAborted(pending, signal, () => {
      const at = entry === undefined ? -1 : queue!.indexOf(entry);
      if (at >= 0) queue!.splice(at, 1);
    });
  }

  /** Whether every connection is busy (a new caller would wait). */
  private saturated(): boolean {
    return this.idleCount === 0 && this.totalCount >= (this.options.max ?? PG_DEFAULT_POOL_MAX);
  }

  /** pg's "timeout exceeded when trying to connect" for a caller that waited in line: the bounded wait ran out. */
  private waitError<E>(error: E): E | VaultError {
    if (!(error instanceof Error) || !/timeout exceeded when trying to connect/i.test(error.message)) return error;
    const waitedMs = this.options.connectionTimeoutMillis ?? 0;
    return new VaultError('UNAVAILABLE', `the server is overloaded: no database connection became free within ${waitedMs} ms; retry the call`, {
      retryAfterMs: DATABASE_RETRY_AFTER_MS,
      cause: error,
    });
  }
}
