import net from 'node:net';
import { loadConfig } from '../../src/config/load-config';
import { startVault } from '../../src/main';
import { createLogger } from '../../src/observability/create-logger';
import { createTenantWithKey, ingestUnary, makeEvent } from '../support/ingest-calls';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { eventually, LogCapture, startTestServer, withKey } from '../support/test-server';

/**
 * Shutdown stops the background jobs (the rollups' compaction, the data
 * lifecycle) before it ends the pool they use, so that none of them runs a
 * round against an ended pool and logs its failure.
 */

/** Records at warn (40) or above. */
function problems(logs: LogCapture): Record<string, unknown>[] {
  return logs.records().filter((record) => Number(record.level) >= 40);
}

/** Lets several compaction and lifecycle intervals pass (a round scheduled before shutdown would have run and logged by then). */
const severalIntervals = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));

describe('a clean shutdown', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  test('when the vault shuts down while its compaction and lifecycle rounds keep running, then nothing is logged at warn or error, then or after', async () => {
    const server = await startTestServer(db.url, { ROLLUP_COMPACTION_INTERVAL: '10ms', DATA_LIFECYCLE_INTERVAL: '1s' });
    const { key } = await createTenantWithKey(db.pool, 'shutdown-clean');
    const result = await ingestUnary(server.ingest, withKey(key), { events: Array.from({ length: 50 }, () => makeEvent()) });
    expect(result.response).toMatchObject({ accepted: 50 });
    // A compaction round has run since (the deltas are gone): the compactor is live when shutdown starts.
    await eventually(async () => expect((await db.pool.query('SELECT count(*)::int AS n FROM event_rollup_deltas')).rows[0].n).toBe(0));
    await server.stop();
    await severalIntervals();
    expect(server.logs.text).toContain('shutdown complete');
    expect(problems(server.logs)).toEqual([]);
  });

  test('when start-up fails after the background jobs have started, then they are stopped before the pool ends and log nothing', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const config = loadConfig({ DATABASE_URL: db.url, GRPC_PORT: String(port), GRPC_HOST: '127.0.0.1', HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', OTLP_GRPC_PORT: '0', OTLP_HTTP_PORT: '0', ROLLUP_COMPACTION_INTERVAL: '10ms', DATA_LIFECYCLE_INTERVAL: '1s' });
      const logs = new LogCapture();
      await expect(startVault(config, createLogger({ level: 'debug', pretty: false, destination: logs }))).rejects.toThrow();
      await severalIntervals();
      expect(logs.text).not.toContain('rollup compaction failed');
      expect(logs.text).not.toContain('data lifecycle round failed');
      expect(logs.text).not.toContain('shutdown step failed');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
