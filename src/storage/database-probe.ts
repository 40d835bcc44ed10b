import pg from 'pg';
import type { Logger } from '../observability/create-logger';

/**
 * Watches whether a database answers, with one dedicated connection (so that
 * a saturated pool does not read as an outage) and a `SELECT 1` per interval.
 */
/**
 * A probe gives up after this long: a database slower than that to answer
 * SELECT 1 is not ready. It does not shrink with a short check interval (a
 * probe still running is joined, not repeated): on a busy machine a database
 * that answers in 300 ms is up, and must not flap the health to NOT_SERVING.
 */
const PROBE_TIMEOUT_MS = 2000;

export class DatabaseProbe {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private state = false;
  private readonly listeners: ((reachable: boolean) => void)[] = [];
  private inFlight: Promise<boolean> | undefined;

  constructor(
    private readonly url: string,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Whether the last probe succeeded. */
  get reachable(): boolean {
    return this.state;
  }

  onChange(listener: (reachable: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Probes now, then every interval. */
  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  /** Runs one probe (joining one already running) and returns its result. */
  probe(): Promise<boolean> {
    this.inFlight ??= this.runProbe().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async runProbe(): Promise<boolean> {
    const timeoutMs = PROBE_TIMEOUT_MS;
    try {
      if (!this.client) {
        const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, application_name: 'telemetry-vault-probe' });
        client.on('error', () => undefined);
        this.client = client;
        await client.connect();
      }
      await this.client.query('SELECT 1');
      this.update(true);
    } catch (error) {
      const broken = this.client;
      this.client = undefined;
      void broken?.end().catch(() => undefined);
      if (this.state) this.logger.warn({ err: error }, 'database probe failed');
      this.update(false);
    }
    return this.state;
  }

  private update(reachable: boolean): void {
    if (reachable === this.state) return;
    this.state = reachable;
    this.logger.info({ reachable }, reachable ? 'database reachable' : 'database unreachable');
    for (const listener of this.listeners) listener(reachable);
  }
}
