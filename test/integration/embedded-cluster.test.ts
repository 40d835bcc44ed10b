import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { EMBEDDED_WAL_SETTINGS, EmbeddedCluster } from '../../src/storage/embedded-cluster';
import { MOVED_NOTE, ROOT_DATA_HOME } from '../../src/storage/postgres-as-root';

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

  test('when started, then it runs with the WAL settings of EMBEDDED_WAL_SETTINGS, and a setting the caller gives overrides its default', async () => {
    const cluster = await EmbeddedCluster.open({ dataDir: path.join(parent, 'wal'), port: 0, logger: silent, settings: { checkpoint_timeout: '20min' } });
    try {
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      const { rows } = await client.query<{ name: string; setting: string; unit: string | null }>(
        "SELECT name, setting, unit FROM pg_settings WHERE name IN ('max_wal_size', 'checkpoint_timeout', 'wal_buffers') ORDER BY name",
      );
      await client.end();
      // pg_settings gives each in its base unit: seconds, megabytes, 8 kB pages.
      expect(rows).toEqual([
        { name: 'checkpoint_timeout', setting: String(20 * 60), unit: 's' },
        { name: 'max_wal_size', setting: String(4 * 1024), unit: 'MB' },
        { name: 'wal_buffers', setting: String((16 * 1024) / 8), unit: '8kB' },
      ]);
      expect(EMBEDDED_WAL_SETTINGS).toEqual({ max_wal_size: '4GB', checkpoint_timeout: '15min', wal_buffers: '16MB' });
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

  (runningAsRoot ? test : test.skip)('when running as root under a directory the postgres user cannot traverse, then the cluster lives under /var/lib/telemetry-vault instead, and a log line and a note in VAULT_DATA_DIR say where', async () => {
    const locked = path.join(parent, 'locked');
    fs.mkdirSync(locked, { mode: 0o700 });
    const dataDir = path.join(locked, 'data');
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const cluster = await EmbeddedCluster.open({ dataDir, port: 0, logger });
    try {
      expect(cluster.dataDir.startsWith(`${ROOT_DATA_HOME}/data-`)).toBe(true);
      expect(fs.existsSync(path.join(cluster.dataDir, 'pg', 'PG_VERSION'))).toBe(true);
      const said = `the embedded PostgreSQL's data is in ${cluster.dataDir} instead`;
      expect(lines.some((line) => line.includes(said) && line.includes(dataDir))).toBe(true);
      expect(fs.readFileSync(path.join(dataDir, MOVED_NOTE), 'utf8')).toContain(said);
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      expect((await client.query('SELECT current_setting($$data_directory$$) AS dir')).rows[0].dir).toBe(path.join(cluster.dataDir, 'pg'));
      await client.end();
    } finally {
      await cluster.stop();
      fs.rmSync(cluster.dataDir, { recursive: true, force: true });
    }
  });
  if (!runningAsRoot) process.stdout.write('skipped the root-only reachability test: this test run is not root\n');
});
