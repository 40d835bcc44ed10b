import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../../../test/support/test-database';
import { startTestServer, type TestServer } from '../../../test/support/test-server';
import { createTenantWithKey } from '../../../test/support/ingest-calls';

const run = promisify(execFile);
const PACKAGE_DIR = path.resolve(__dirname, '..');

/** What a new user writes after `npm install @telemetry-vault/client`, in plain CommonJS. */
const SMOKE_SCRIPT = `
const { VaultClient } = require('@telemetry-vault/client');
(async () => {
  const client = new VaultClient({ address: process.env.VAULT_ADDRESS, apiKey: process.env.VAULT_API_KEY });
  const ingester = client.ingester({ onRejected: (r) => console.error('rejected', r.eventId, r.reason) });
  for (let i = 0; i < 25; i++) await ingester.add({ eventType: 'log', serviceName: 'smoke', payload: { i } });
  await ingester.close();
  const seen = [];
  for await (const event of client.events({ serviceNames: ['smoke'] }, 'oldest-first')) seen.push(event.payload.i);
  const rows = await client.aggregate({}, { groupBy: ['service_name'] });
  client.close();
  console.log(JSON.stringify({ counters: ingester.counters, seen, rows }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

describe('the packed @telemetry-vault/client', () => {
  let db: TestDatabase;
  let server: TestServer;
  let workDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer(db.url);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-sdk-pack-'));
  });

  afterAll(async () => {
    fs.rmSync(workDir, { recursive: true, force: true });
    await server.stop();
    await db.drop();
  });

  test('when npm pack makes a tarball and it is installed in an empty folder (offline, from the npm cache), then a plain script ingests and queries with it', async () => {
    const { stdout: packed } = await run('npm', ['pack', '--json', '--pack-destination', workDir], { cwd: PACKAGE_DIR, maxBuffer: 16 * 1024 * 1024 });
    const [{ filename, files }] = JSON.parse(packed.slice(packed.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
    const paths = files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts']));
    // Only the built client: no sources, tests or server code.
    expect(paths.filter((file) => !file.startsWith('dist/') && file !== 'package.json')).toEqual([]);

    const app = path.join(workDir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'sdk-smoke', private: true }));
    const tarball = path.join(workDir, filename);
    const install = async (mode: string) => run('npm', ['install', mode, '--no-audit', '--no-fund', tarball], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
    try {
      await install('--offline');
    } catch (offline) {
      // Metadata of the dependencies may not be in the cache yet (npm ci caches tarballs only): let npm fetch it.
      try {
        await install('--prefer-offline');
      } catch (online) {
        process.stdout.write(`skipping the install check: npm could not install the tarball offline (${String(offline).split('\n')[0]}) nor online (${String(online).split('\n')[0]})\n`);
        return;
      }
    }
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/@telemetry-vault/client/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies).sort()).toEqual(['@bufbuild/protobuf', '@grpc/grpc-js']);
    expect(fs.existsSync(path.join(app, 'node_modules/pg'))).toBe(false);

    const { key } = await createTenantWithKey(db.pool, 'sdk-pack');
    fs.writeFileSync(path.join(app, 'smoke.js'), SMOKE_SCRIPT);
    const { stdout } = await run(process.execPath, ['smoke.js'], { cwd: app, env: { PATH: process.env.PATH ?? '', VAULT_ADDRESS: server.address, VAULT_API_KEY: key } });
    const result = JSON.parse(stdout) as { counters: Record<string, number>; seen: number[]; rows: { serviceName: string; count: number }[] };
    expect(result.counters).toMatchObject({ accepted: 25, rejected: 0, failed: 0, buffered: 0 });
    expect([...result.seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(result.rows).toEqual([expect.objectContaining({ serviceName: 'smoke', count: 25 })]);
  }, 180_000);
});
