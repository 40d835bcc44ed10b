import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_BIN } from '../support/server-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const ROOT = path.resolve(__dirname, '../..');

/** A process tree started for the test, its output kept. */
interface Started {
  readonly child: ChildProcess;
  output: string;
}

function start(command: string, args: readonly string[], env: Record<string, string>): Started {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const started: Started = { child, output: '' };
  child.stdout!.on('data', (chunk: Buffer) => (started.output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (started.output += chunk.toString()));
  return started;
}

/** The pid of the `telemetry-vault.js serve` process among the descendants of `ancestor` (read from /proc). */
function servePid(ancestor: number): number | undefined {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const descends = (pid: number): boolean => {
    for (let at = parents.get(pid); at !== undefined && at > 1; at = parents.get(at)) if (at === ancestor) return true;
    return false;
  };
  for (const pid of parents.keys()) {
    if (!descends(pid)) continue;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmdline.some((arg) => arg.endsWith('telemetry-vault.js')) && cmdline.includes('serve')) return pid;
  }
  return undefined;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

/** Waits until `check` holds; gives up (a safety net, not a measurement) after 90 s with what the processes printed. */
const until = async (check: () => boolean, output: () => string): Promise<void> => {
  const deadline = Date.now() + 90_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting; output so far:\n${output().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

jest.setTimeout(240_000);

describe('serve --exit-with-parent (what npm start runs)', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const leftovers: number[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', GRPC_PORT: '0', HTTP_PORT: '0' };
  });

  afterAll(async () => {
    for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await db?.drop();
  });

  test('when kill -TERM goes to the `npm start` process, then the serve process it started drains and exits instead of running on orphaned', async () => {
    if (process.platform !== 'linux') {
      process.stdout.write('skipped: finding the serve process under npm reads /proc (Linux only)\n');
      return;
    }
    // --ignore-scripts skips prestart's build (the test run built dist/ already) and runs start itself.
    const npm = start('npm', ['start', '--ignore-scripts'], env);
    await until(() => npm.output.includes('telemetry vault serving'), () => npm.output);
    const serve = servePid(npm.child.pid!);
    expect(serve).toBeDefined();
    leftovers.push(serve!);
    expect(fs.readFileSync(`/proc/${serve}/cmdline`, 'utf8').split('\0')).toContain('--exit-with-parent');

    npm.child.kill('SIGTERM');
    await until(() => !alive(serve!), () => npm.output);
    expect(npm.output).toContain('the parent process is gone (--exit-with-parent): shutting down');
    expect(npm.output).toContain('shutdown complete');
  });

  test('when the parent of serve --exit-with-parent is killed with SIGKILL, then serve drains (shutdown complete) and exits; without the flag it keeps running', async () => {
    const parentScript = `const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, [${JSON.stringify(CLI_BIN)}, 'serve', ...process.argv.slice(1)], { stdio: 'inherit' });
      process.stdout.write('serve pid ' + child.pid + '\\n');
      setInterval(() => {}, 1000);`;
    for (const flag of [['--exit-with-parent'], []]) {
      const parent = start(process.execPath, ['-e', parentScript, '--', ...flag], env);
      await until(() => parent.output.includes('telemetry vault serving'), () => parent.output);
      const serve = Number(/serve pid (\d+)/.exec(parent.output)?.[1]);
      leftovers.push(serve);
      parent.child.kill('SIGKILL');
      if (flag.length > 0) {
        await until(() => !alive(serve), () => parent.output);
        expect(parent.output).toContain('shutdown complete');
      } else {
        // The same process without the flag outlives its parent: the flag is what makes it leave.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(alive(serve)).toBe(true);
        process.kill(serve, 'SIGTERM');
        await until(() => !alive(serve), () => parent.output);
      }
    }
  });
});
