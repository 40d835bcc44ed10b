import fs from 'node:fs';
import path from 'node:path';
import { ChildService, directoryForPostgresUser, findBinary, freePort, runs, waitForPort } from './processes';

/** Undefined when pgbouncer can run here, else why not (for the skip message). */
export function pgbouncerUnavailableReason(): string | undefined {
  return runs(findBinary(['pgbouncer'])) ? undefined : 'pgbouncer is not installed (Debian package pgbouncer; .ci/run installs it)';
}

/** A PgBouncer of the test's own in front of one database. */
export interface PgBouncer {
  /** postgres:// URL of the database through PgBouncer. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer (as the postgres user: it refuses to run as root) in
 * `pool_mode` with `poolSize` server connections for `databaseUrl`. Clients
 * are not authenticated (auth_type any: a test on loopback); PgBouncer logs
 * in to PostgreSQL with the URL's user and password. Production settings:
 * docs/scaling.md.
 */
export async function startPgBouncer(databaseUrl: string, options: { poolMode: 'transaction' | 'session'; poolSize: number }): Promise<PgBouncer> {
  const target = new URL(databaseUrl);
  const { dir, uid, gid } = await directoryForPostgresUser('tv-scale-pgbouncer-');
  const port = await freePort();
  const database = target.pathname.slice(1);
  const ini = [
    '[databases]',
    `vault = host=${target.hostname} port=${target.port} dbname=${database} user=${decodeURIComponent(target.username)} password=${decodeURIComponent(target.password)}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = any',
    `pool_mode = ${options.poolMode}`,
    `default_pool_size = ${options.poolSize}`,
    'max_client_conn = 500',
    'ignore_startup_parameters = extra_float_digits,options',
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    '',
  ].join('\n');
  const iniPath = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(iniPath, ini, { mode: 0o600 });
  if (uid !== undefined) fs.chownSync(iniPath, uid, gid!);
  const child = new ChildService('pgbouncer', findBinary(['pgbouncer'])!, [iniPath], { uid, gid, cwd: dir });
  await waitForPort(port, 15_000, `pgbouncer (${child.output})`);
  return {
    url: `postgres://vault@127.0.0.1:${port}/vault`,
    stop: async () => {
      await child.stop('SIGINT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
