import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';
import { runMigrations } from '../../src/storage/run-migrations';
import { createTenantWithKey } from './ingest-calls';
import type { ClientSummary, RetryingIngestClient } from './retrying-ingest-client';
import { ServerProcess } from './server-process';
import { TEST_SETTINGS } from './test-postgres-provider';

/** Generous rate limits, so that a drill's load is never throttled unless it means to be. */
export const UNTHROTTLED: TenantLimits = { callsPerMinute: 1_000_000, eventsPerSecond: 1_000_000, eventBurst: 1_000_000 };

/** A tenant's rate-limit overrides. */
export interface TenantLimits {
  readonly callsPerMinute: number;
  readonly eventsPerSecond: number;
  readonly eventBurst: number;
}

/** A server process of a drill, with the ports it serves on and whether it has exited. */
export interface DrillServer {
  readonly process: ServerProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly address: string;
  /** Set once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/** What the database holds against what the clients were told: every list empty means exactly once. */
export interface LedgerCheck {
  /** Acknowledged event ids that are not stored. */
  readonly missing: string[];
  /** Stored event ids that no client sent. */
  readonly unknown: string[];
  /** Rows beyond one per event id. */
  readonly doubleRows: number;
  /** Acknowledged calls whose accepted + duplicates + rejected is not the number of events they carried. */
  readonly miscountedCalls: number;
  readonly storedRows: number;
}

/**
 * A fault drill's own world: an embedded PostgreSQL of its own in a temporary
 * directory (which the drill may crash and restart without touching the run's
 * shared database), a small pool on it for assertions, and the server started
 * as a separate `telemetry-vault serve` process (which the drill may kill or
 * signal, and whose memory it may read).
 */
export class FaultDrill {
  readonly servers: DrillServer[] = [];

  private constructor(
    readonly cluster: EmbeddedCluster,
    readonly pool: pg.Pool,
    private readonly dataDir: string,
  ) {}

  static async open(name: string): Promise<FaultDrill> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `tv-drill-${name}-`));
    const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: pino({ level: 'silent' }), settings: TEST_SETTINGS });
    await runMigrations(cluster.url, pino({ level: 'silent' }));
    const pool = new pg.Pool({ connectionString: cluster.url, max: 3 });
    // The drill stops the database under this pool's idle connections.
    pool.on('error', () => undefined);
    return new FaultDrill(cluster, pool, dataDir);
  }

  /** A tenant (unthrottled unless told otherwise) and its key. */
  async tenant(name: string, overrides: TenantLimits = UNTHROTTLED): Promise<{ key: string; tenantId: string }> {
    const { key, tenantId } = await createTenantWithKey(this.pool, name, overrides);
    return { key, tenantId };
  }

  /** Starts `telemetry-vault serve` on this drill's database and waits until it serves. */
  async startServer(env: Record<string, string> = {}): Promise<DrillServer> {
    const child = new ServerProcess({
      DATABASE_URL: this.cluster.url,
      GRPC_HOST: '127.0.0.1',
      HTTP_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      HEALTH_CHECK_INTERVAL: '200ms',
      ...env,
    });
    const server: DrillServer = { process: child, grpcPort: 0, httpPort: 0, address: '', exit: undefined };
    void child.exited.then((exit) => (server.exit = exit));
    this.servers.push(server);
    const { grpcPort, httpPort } = await child.serving();
    return Object.assign(server, { grpcPort, httpPort, address: `127.0.0.1:${grpcPort}` });
  }

  /** Event ids stored for a tenant (one entry per row). */
  async storedIds(tenantId: string): Promise<string[]> {
    const result = await this.pool.query<{ event_id: string }>('SELECT event_id FROM events WHERE tenant_id = $1', [tenantId]);
    return result.rows.map((row) => row.event_id);
  }

  /** Compares the table with what `client` was told (see LedgerCheck). */
  async check(client: RetryingIngestClient, tenantId: string): Promise<LedgerCheck> {
    const stored = await this.storedIds(tenantId);
    const storedSet = new Set(stored);
    const sent = client.sentIds();
    return {
      missing: [...client.acknowledgedIds()].filter((id) => !storedSet.has(id)),
      unknown: stored.filter((id) => !sent.has(id)),
      doubleRows: stored.length - storedSet.size,
      miscountedCalls: client.calls.filter((call) => call.response && call.response.accepted + call.response.duplicates + call.response.rejected !== call.events).length,
      storedRows: stored.length,
    };
  }

  /**
   * The drill's end when every call was to be acknowledged: each was, every
   * acknowledged event is stored exactly once and nothing else is, and the
   * counts add up (each response's accepted + duplicates + rejected is the
   * events it carried; accepted + duplicates over all calls is the rows).
   */
  async expectEveryCallStoredOnce(client: RetryingIngestClient, tenantId: string): Promise<{ summary: ClientSummary; check: LedgerCheck }> {
    const summary = client.summary();
    expect(summary.unacknowledged).toBe(0);
    const check = await this.check(client, tenantId);
    expect(check).toMatchObject({ missing: [], unknown: [], doubleRows: 0, miscountedCalls: 0 });
    expect(check.storedRows).toBe(summary.eventsAcknowledged);
    // The drills send valid events only: none is rejected, and each row was either accepted once or answered as a duplicate after a retry.
    expect(summary.rejected).toBe(0);
    expect(summary.accepted + summary.duplicates).toBe(check.storedRows);
    return { summary, check };
  }

  /** Kills what is still running (servers, then the database) and removes the data directory. */
  async close(): Promise<void> {
    for (const server of this.servers) {
      if (server.exit === undefined) {
        server.process.signal('SIGKILL');
        await server.process.exited;
      }
    }
    await this.pool.end().catch(() => undefined);
    await this.cluster.stop('immediate');
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Opens a FaultDrill before the file's tests and closes it after them; returns a getter for it. */
export function useFaultDrill(name: string): () => FaultDrill {
  let drill: FaultDrill | undefined;
  beforeAll(async () => {
    drill = await FaultDrill.open(name);
  });
  afterAll(async () => {
    await drill?.close();
  });
  return () => {
    if (!drill) throw new Error('the fault drill is not open (beforeAll failed?)');
    return drill;
  };
}

/** A TCP port nothing listens on right now (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A process's resident memory in bytes (VmRSS of /proc/<pid>/status), or undefined once it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A value of a metric without labels on a server's /metrics, or undefined when it is not there. */
export async function metricValue(httpPort: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Prints a drill's figures on their own line, for docs/reliability.md. */
export function reportFigures(drill: string, figures: Record<string, unknown>): void {
  process.stdout.write(`\n[fault drill] ${drill}: ${JSON.stringify(figures)}\n`);
}

/** Resolves after `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
