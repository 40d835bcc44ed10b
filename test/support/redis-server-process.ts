import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import { eventually } from './test-server';

/** A redis-server of a test's own, on a free port, keeping nothing on disk. */
export interface RedisServerProcess {
  readonly url: string;
  /** A client of it, for the test's own commands (INFO, CONFIG RESETSTAT...). */
  readonly client: Redis;
  stop(): Promise<void>;
}

/** Undefined when `redis-server` can be run here, else why not (for the skip message). */
export function redisServerUnavailableReason(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.error ? `redis-server cannot be run here (${probe.error.message}); install Redis to run this test` : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on a free loopback port and waits until it answers PING. */
export async function startRedisServer(): Promise<RedisServerProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { retryStrategy: (attempt) => (attempt > 50 ? null : 100), maxRetriesPerRequest: null });
  await client.ping();
  return {
    url,
    client,
    stop: async () => {
      client.disconnect();
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    },
  };
}

/** How many times Redis ran each of `commands` since its statistics were last reset (INFO commandstats). */
export async function commandCalls(client: Redis, commands: readonly string[]): Promise<number> {
  const info = await client.info('commandstats');
  return commands.reduce((sum, command) => sum + Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0), 0);
}

/** A redis-server of a test's own on a fixed port, that the test can kill, freeze and start again where its servers expect it. */
export class RestartableRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it and waits until it answers PING. */
  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    probe.on('error', () => undefined);
    try {
      await eventually(async () => {
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        if ((await probe.ping()) !== 'PONG') throw new Error('redis-server does not answer PING yet');
      }, 10_000);
    } finally {
      probe.disconnect();
    }
  }

  /** Freezes it (SIGSTOP) or thaws it (SIGCONT): connections stay open, answers stop coming. */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Kills it (a crash: clients see their connections drop) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
