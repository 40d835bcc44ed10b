import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { IngestServiceClient } from '../../src/gen/telemetry/v1/ingest_service';
import { QueryServiceClient } from '../../src/gen/telemetry/v1/query_service';
import { loadConfig } from '../../src/config/load-config';
import { createLogger } from '../../src/observability/create-logger';
import { startVault, type Vault, type VaultOptions } from '../../src/main';

/** Log lines captured from a test server, parsed. */
export class LogCapture {
  readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line);
  }

  /** Every captured line as one string (for "never contains" assertions). */
  get text(): string {
    return this.lines.join('');
  }

  records(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** A real server on ephemeral ports, with real clients. */
export interface TestServer {
  readonly vault: Vault;
  /** host:port of the gRPC listener. */
  readonly address: string;
  /** http://host:port of the operations listener. */
  readonly httpUrl: string;
  readonly logs: LogCapture;
  readonly ingest: IngestServiceClient;
  readonly query: QueryServiceClient;
  stop(): Promise<void>;
}

/** Starts the vault in this process on GRPC_PORT=0 and HTTP_PORT=0 against `databaseUrl`. */
export async function startTestServer(databaseUrl: string, env: Record<string, string> = {}, options: VaultOptions = {}): Promise<TestServer> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, GRPC_PORT: '0', HTTP_PORT: '0', GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', HEALTH_CHECK_INTERVAL: '200ms', SHUTDOWN_GRACE_PERIOD: '5s', ...env });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', pretty: false, destination: logs });
  const vault = await startVault(config, logger, options);
  const address = `127.0.0.1:${vault.grpcPort}`;
  const ingest = new IngestServiceClient(address, credentials.createInsecure());
  const query = new QueryServiceClient(address, credentials.createInsecure());
  return {
    vault,
    address,
    httpUrl: `http://127.0.0.1:${vault.httpPort}`,
    logs,
    ingest,
    query,
    stop: async () => {
      ingest.close();
      query.close();
      await vault.shutdown();
    },
  };
}

/** Metadata carrying an API key. */
export function withKey(key: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  return metadata;
}

/** Waits until `check` passes, polling; fails with the last assertion error after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/** The error of a call expected to fail. */
export function isServiceError(error: unknown): error is ServiceError {
  return typeof error === 'object' && error !== null && 'code' in error && 'details' in error;
}
