import { readFileSync } from 'node:fs';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthClient } from '../../src/gen/grpc/health/v1/health';
import { IngestServiceClient, type IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import { QueryEventsRequest, QueryServiceClient, type QueryEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import { errorDetails, makeEvent } from '../support/ingest-calls';
import { ServerProcess } from '../support/server-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The vault as its own process (so that its memory can be read and the load generator's CPU is not its own), on a fresh database. */
export interface VaultProcess {
  readonly server: ServerProcess;
  readonly db: TestDatabase;
  /** 127.0.0.1:port of gRPC. */
  readonly address: string;
  /** http://127.0.0.1:port of /metrics. */
  readonly httpUrl: string;
  stop(): Promise<void>;
}

/** Starts `telemetry-vault serve` on a fresh database with `env` added; `beforeStart` runs once the database exists (tenants, seed data). */
export async function startVaultProcess(env: Record<string, string>, beforeStart: (db: TestDatabase) => Promise<void> = async () => undefined): Promise<VaultProcess> {
  const db = await createTestDatabase();
  await beforeStart(db);
  const server = new ServerProcess({
    DATABASE_URL: db.url,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    HEALTH_CHECK_INTERVAL: '500ms',
    SHUTDOWN_GRACE_PERIOD: '5s',
    ...env,
  });
  const { grpcPort, httpPort } = await server.serving();
  return {
    server,
    db,
    address: `127.0.0.1:${grpcPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    stop: async () => {
      server.signal('SIGTERM');
      await server.exited;
      await db.drop();
    },
  };
}

/** Resident memory of a process, from /proc/<pid>/status (VmRSS). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Samples a process's resident memory on an interval until stopped. */
export class RssSampler {
  readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  get maxBytes(): number {
    return Math.max(...this.samples);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    try {
      this.samples.push(residentBytes(this.pid));
    } catch {
      // The process has exited (a test that failed early stops the server before this sampler).
      clearInterval(this.timer);
    }
  }
}

/** MiB, one decimal, for printing. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The value of one sample of a metric on /metrics (labels matched exactly as written, e.g. `{pool="primary",state="idle"}`). */
export async function scrapeMetric(httpUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${labels} `));
  if (line === undefined) throw new Error(`${name}${labels} is not on /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Database connections of the primary pool that are checked out (total - idle), from /metrics. */
export async function busyPoolConnections(httpUrl: string): Promise<number> {
  const total = await scrapeMetric(httpUrl, 'telemetry_vault_db_pool_connections', '{pool="primary",state="total"}');
  const idle = await scrapeMetric(httpUrl, 'telemetry_vault_db_pool_connections', '{pool="primary",state="idle"}');
  return total - idle;
}

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** "p50 1.2 ms, p95 ..., p99 ..., max ... (n calls)" for printing. */
export function describeLatencies(values: readonly number[]): string {
  const ms = (value: number): string => `${value.toFixed(1)} ms`;
  return `p50 ${ms(percentile(values, 50))}, p95 ${ms(percentile(values, 95))}, p99 ${ms(percentile(values, 99))}, max ${ms(Math.max(...values))} (${values.length} calls)`;
}

/** Milliseconds since `start` (a process.hrtime.bigint()). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** How a unary call ended. */
export interface UnaryOutcome<R> {
  readonly response: R | undefined;
  readonly error: ServiceError | undefined;
  readonly ms: number;
}

function unaryOutcome<R>(start: (callback: (error: ServiceError | null, response?: R) => void) => void): Promise<UnaryOutcome<R>> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => start((error, response) => resolve({ response: response ?? undefined, error: error ?? undefined, ms: elapsedMs(started) })));
}

/** One Ingest of `count` fresh events. */
export function ingestFresh(client: IngestServiceClient, metadata: Metadata, count: number, deadlineMs = 30_000): Promise<UnaryOutcome<IngestResponse>> {
  const events = Array.from({ length: count }, () => makeEvent());
  return unaryOutcome((callback) => client.ingest({ events }, metadata, { deadline: Date.now() + deadlineMs }, callback));
}

/** One QueryEvents of the newest `limit` events. */
export function queryNewest(client: QueryServiceClient, metadata: Metadata, limit: number, deadlineMs = 30_000): Promise<UnaryOutcome<QueryEventsResponse>> {
  return unaryOutcome((callback) => client.queryEvents(QueryEventsRequest.fromPartial({ limit }), metadata, { deadline: Date.now() + deadlineMs }, callback));
}

/** How long a health Check takes, failing the test when it does not answer SERVING within `deadlineMs`. */
export async function timedHealthCheck(client: HealthClient, deadlineMs = 5000): Promise<number> {
  const started = process.hrtime.bigint();
  const response = await new Promise<{ status: ServingStatus }>((resolve, reject) =>
    client.check({ service: '' }, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, reply) => (error ? reject(error) : resolve(reply))),
  );
  if (response.status !== ServingStatus.SERVING) throw new Error(`health Check answered ${ServingStatus[response.status]}`);
  return elapsedMs(started);
}

/**
 * Channel options for a client with a connection of its own: grpc-js shares
 * subchannels (connections) between channels with the same target and
 * options unless told not to.
 */
export const OWN_CONNECTION = { 'grpc.use_local_subchannel_pool': 1 } as const;

/** Generated clients on a connection of their own. */
export function ownClients(address: string): { ingest: IngestServiceClient; query: QueryServiceClient; health: HealthClient; close(): void } {
  const ingest = new IngestServiceClient(address, credentials.createInsecure(), OWN_CONNECTION);
  const query = new QueryServiceClient(address, credentials.createInsecure(), OWN_CONNECTION);
  const health = new HealthClient(address, credentials.createInsecure(), OWN_CONNECTION);
  return {
    ingest,
    query,
    health,
    close: () => {
      ingest.close();
      query.close();
      health.close();
    },
  };
}

/** The RetryInfo delay of a failed call, in ms, or undefined when it carries none. */
export function retryDelayMs(error: ServiceError): number | undefined {
  return errorDetails(error).retryDelayMs;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
