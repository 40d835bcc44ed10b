import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';
import { TEST_SETTINGS } from './test-postgres-provider';
import { startTestServer, type TestServer } from './test-server';

/** A vault on a PostgreSQL of the test's own, which the test may stop and restart, and a pool to look at it with. */
export interface RestartableVault {
  readonly cluster: EmbeddedCluster;
  readonly server: TestServer;
  readonly pool: pg.Pool;
}

/**
 * Starts, in beforeAll, an embedded PostgreSQL in a fresh directory named
 * after `prefix` and a vault on it with `env`, and tears both down in
 * afterAll. The getter gives them to the tests. The pool ignores errors, so
 * that stopping the database does not crash the test process.
 */
export function useRestartableVault(prefix: string, env: Record<string, string>, poolMax = 2): () => RestartableVault {
  let dataDir: string;
  let started: RestartableVault | undefined;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: pino({ level: 'silent' }), settings: TEST_SETTINGS });
    const server = await startTestServer(cluster.url, env);
    const pool = new pg.Pool({ connectionString: cluster.url, max: poolMax });
    pool.on('error', () => undefined);
    started = { cluster, server, pool };
  });

  afterAll(async () => {
    await started?.pool.end();
    await started?.server.stop();
    await started?.cluster.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  return () => {
    if (started === undefined) throw new Error('useRestartableVault: the vault is not started (use it from a test)');
    return started;
  };
}
