import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { EmbeddedCluster } from '../../src/storage/embedded-cluster';

const silent = pino({ level: 'silent' });
const runningAsRoot = process.getuid?.() === 0;

describe('EmbeddedCluster', () => {
  let parent: string;

  beforeEach(() => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-cluster-'));
    fs.chmodSync(parent, 0o755);
  });

  afterEach(() => {
    fs.rmSync(parent, { recursive: true, force: true });
  });

  test('when stopped and started again, then it keeps its port and its data', async () => {
    const cluster = await EmbeddedCluster.open({ dataDir: path.join(parent, 'data'), port: 0, logger: silent });
    try {
      const url = cluster.url;
      const write = new pg.Client({ connectionString: url });
      await write.connect();
      await write.query('CREATE TABLE kept (value text); INSERT INTO kept VALUES ($$still here$$)');
      await write.end();
      await cluster.stop('immediate');
      expect(cluster.running).toBe(false);
      await cluster.start();
      expect(cluster.url).toBe(url);
      const read = new pg.Client({ connectionString: url });
      await read.connect();
      expect((await read.query('SELECT value FROM kept')).rows).toEqual([{ value: 'still here' }]);
      await read.end();
    } finally {
      await cluster.stop();
    }
  });

  test('when the data directory is new, then its password file is private to the owner', async () => {
    const dataDir = path.join(parent, 'private');
    const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger: silent });
    await cluster.stop();
    expect(fs.statSync(path.join(dataDir, 'pg-password')).mode & 0o777).toBe(0o600);
  });

  (runningAsRoot ? test : test.skip)('when running as root under a directory the postgres user cannot traverse, then opening fails with a message naming VAULT_DATA_DIR and the way out', async () => {
    const locked = path.join(parent, 'locked');
    fs.mkdirSync(locked, { mode: 0o700 });
    await expect(EmbeddedCluster.open({ dataDir: path.join(locked, 'data'), port: 0, logger: silent })).rejects.toThrow(
      /VAULT_DATA_DIR .*locked\/data is not reachable by the postgres user.*Set VAULT_DATA_DIR/,
    );
  });
  if (!runningAsRoot) process.stdout.write('skipped the root-only reachability test: this test run is not root\n');
});
