import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postgresUser } from '../../../src/storage/postgres-as-root';

export { freePort } from '../../support/fault-drill';

/** What every drill server gets: loopback only, ports picked at start (gRPC, HTTP, OTLP), a quick health probe. */
export const LOCAL_SERVE_ENV: Readonly<Record<string, string>> = {
  GRPC_HOST: '127.0.0.1',
  GRPC_PORT: '0',
  HTTP_HOST: '127.0.0.1',
  HTTP_PORT: '0',
  OTLP_GRPC_PORT: '0',
  OTLP_HTTP_PORT: '0',
  HEALTH_CHECK_INTERVAL: '500ms',
};

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 30_000, what = `port ${port}`): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not accept connections within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The first binary of `names` found on PATH or in `extraDirs`; undefined when none. */
export function findBinary(names: readonly string[], extraDirs: readonly string[] = ['/usr/sbin', '/usr/local/sbin', '/sbin']): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...extraDirs].filter((dir) => dir !== '');
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/** A child process of a test (nginx, pgbouncer, redis-server, postgres), with its output kept for failure messages. */
export class ChildService {
  output = '';
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  constructor(readonly name: string, command: string, args: readonly string[], options: { uid?: number; gid?: number; cwd?: string } = {}) {
    this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.child.on('error', (error) => keep(Buffer.from(`\n${error.message}\n`)));
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A fresh temporary directory that the `postgres` user owns (pgbouncer and PostgreSQL refuse to run as root). */
export async function directoryForPostgresUser(prefix: string): Promise<{ dir: string; uid: number | undefined; gid: number | undefined }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (process.getuid?.() !== 0) return { dir, uid: undefined, gid: undefined };
  const user = await postgresUser();
  fs.chmodSync(dir, 0o700);
  fs.chownSync(dir, user.uid, user.gid);
  return { dir, uid: user.uid, gid: user.gid };
}

/** Whether `binary --version` runs (for skip messages). */
export function runs(binary: string | undefined, args: readonly string[] = ['--version']): boolean {
  return binary !== undefined && spawnSync(binary, args, { encoding: 'utf8' }).status === 0;
}
