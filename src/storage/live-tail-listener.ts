import pg from 'pg';
import type { CommitNotice, CommitNoticeSource } from '../domain/live-tail/live-tail-store';
import type { Logger } from '../observability/create-logger';
import { LIVE_TAIL_CHANNEL } from './live-tail-notify';
import { mapPgError } from './map-pg-error';

/** application_name of the listener's connection (operators find it in pg_stat_activity). */
export const LIVE_TAIL_LISTENER_APPLICATION = 'telemetry-vault-live-tail';

/**
 * The instance's one LISTEN connection for commit notices: a client of its
 * own, outside the pool (a pooled connection would be handed to other work,
 * and LISTEN lives as long as its session). It connects at the first
 * listen() and stays; when it is lost, every follower is told (onLost), since
 * notices sent meanwhile are gone, and the next listen() connects again.
 */
export class PgCommitNoticeSource implements CommitNoticeSource {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly noticeHandlers: ((notice: CommitNotice) => void)[] = [];
  private readonly lostHandlers: ((error: Error) => void)[] = [];
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly connectTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  listen(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the live tail listener is closed'));
    if (this.client !== undefined) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  onNotice(handler: (notice: CommitNotice) => void): void {
    this.noticeHandlers.push(handler);
  }

  onLost(handler: (error: Error) => void): void {
    this.lostHandlers.push(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: this.connectTimeoutMs, application_name: LIVE_TAIL_LISTENER_APPLICATION });
    let lost = false;
    const onLost = (error: Error): void => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.logger.warn({ err: error }, 'the live tail listener lost its database connection: following calls end with UNAVAILABLE');
      for (const handler of this.lostHandlers) handler(error);
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('the live tail listener connection ended')));
    client.on('notification', (message) => {
      if (message.channel !== LIVE_TAIL_CHANNEL || message.payload === undefined) return;
      const notice = parseNotice(message.payload);
      if (notice === undefined) {
        this.logger.warn({ payload: message.payload.slice(0, 200) }, 'a live tail notice could not be read; ignored');
        return;
      }
      for (const handler of this.noticeHandlers) handler(notice);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${LIVE_TAIL_CHANNEL}`);
    } catch (error) {
      lost = true;
      await client.end().catch(() => undefined);
      throw mapPgError(error);
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('the live tail listener is closed');
    }
    this.client = client;
  }
}

/** A notice's payload, {"x": xid8, "t": tenant, "k": [[timestamp_us, event_id], ...]} (see LIVE_TAIL_NOTIFY_CTE). */
export function parseNotice(payload: string): CommitNotice | undefined {
  try {
    const parsed = JSON.parse(payload) as { x: string; t: string; k: [string, string][] };
    return { xid: BigInt(parsed.x), tenantId: parsed.t, keys: parsed.k.map(([timestampUs, eventId]) => ({ timestampUs: BigInt(timestampUs), eventId })) };
  } catch {
    return undefined;
  }
}
