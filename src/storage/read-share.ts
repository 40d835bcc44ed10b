import type pg from 'pg';
import { VaultError } from '../domain/vault-error';
import { checkOut, type ConnectionSource } from './database-session';
import { DATABASE_RETRY_AFTER_MS } from './map-pg-error';

export interface ReadShareSettings {
  /** Most connections reads hold at once. */
  readonly slots: number;
  /** How long a read waits for a slot (DB_POOL_CONNECTION_TIMEOUT). */
  readonly waitMs: number;
  /** Most reads waiting for a slot at once (DB_POOL_MAX_WAITING); one more is refused at once. */
  readonly maxWaiting: number;
}

interface Waiter {
  readonly grant: () => void;
}

/**
 * The part of the primary's pool that reads may hold: without a read replica,
 * QueryService (pages, streams, counts) and the stored part of a follow read
 * from the pool that ingest's group commit writes through, and reads of large
 * events can take seconds each. Unbounded, enough of them held every
 * connection, and ingest calls failed with UNAVAILABLE while they waited
 * (a soak of 60 stalled StreamEvents and 4 page readers over 60 KB events:
 * 20 of 26 small ingest calls refused). Reads now hold at most `slots`
 * connections at once (DB_POOL_MAX - INGEST_WRITE_CONCURRENCY, at least 1:
 * platform.ts), so the writer's connections are always there. A read beyond
 * them waits for one of the share's connections to come back, within the
 * pool's own bounds (its wait and its count of waiters), and is refused with
 * UNAVAILABLE and a retry delay past them. A read whose call stops while it
 * waits (cancelled, past its deadline) leaves the line at once
 * (connectUntilAborted): its place is not held for a client that has gone,
 * so that calls retried after their deadlines do not fill DB_POOL_MAX_WAITING
 * with reads nobody waits for.
 */
export class ReadShare implements ConnectionSource {
  private held = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: ReadShareSettings,
  ) {}

  /** Connections reads hold now. */
  get inUse(): number {
    return this.held;
  }

  /** Reads waiting for one of the share's connections now. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** The share's size: most connections reads hold at once. */
  get slots(): number {
    return this.settings.slots;
  }

  connect(): Promise<pg.PoolClient> {
    return this.acquire(undefined);
  }

  /** connect, but a read whose signal aborts while it waits for a slot leaves the line and fails with the signal's reason. */
  connectUntilAborted(signal: AbortSignal): Promise<pg.PoolClient> {
    return this.acquire(signal);
  }

  private async acquire(signal: AbortSignal | undefined): Promise<pg.PoolClient> {
    await this.slot(signal);
    let client: pg.PoolClient;
    try {
      // The pool's own line, when every connection is busy (writers, key lookups): left too when the call stops (BoundedPool).
      client = await checkOut(this.pool, signal);
    } catch (error) {
      this.free();
      throw error;
    }
    // pg-pool gives each checkout its own release: the slot goes back with it, once.
    const release = client.release.bind(client);
    let released = false;
    client.release = (err?: Error | boolean) => {
      if (!released) {
        released = true;
        this.free();
      }
      release(err);
    };
    return client;
  }

  private slot(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.held < this.settings.slots) {
      this.held++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.settings.maxWaiting) {
      return Promise.reject(
        new VaultError('UNAVAILABLE', `the server is overloaded: reads already hold the ${this.settings.slots} database connections they may (DB_POOL_MAX less INGEST_WRITE_CONCURRENCY) and ${this.settings.maxWaiting} reads wait for one (DB_POOL_MAX_WAITING); retry the call`, {
          retryAfterMs: DATABASE_RETRY_AFTER_MS,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const leave = (): void => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        leave();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        leave();
        reject(
          new VaultError('UNAVAILABLE', `the server is overloaded: no database connection for reads became free within ${this.settings.waitMs} ms (DB_POOL_CONNECTION_TIMEOUT; reads may hold ${this.settings.slots}: DB_POOL_MAX less INGEST_WRITE_CONCURRENCY); retry the call`, {
            retryAfterMs: DATABASE_RETRY_AFTER_MS,
          }),
        );
      }, this.settings.waitMs);
      const waiter: Waiter = {
        // The slot passes straight from the read that freed it: `held` does not change.
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private free(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next.grant();
    else this.held--;
  }
}
