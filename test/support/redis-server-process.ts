import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';

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
