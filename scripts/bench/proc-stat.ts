/** Reading a process's /proc/<pid>/stat, for the benchmarks' CPU figures (Linux). */
import fs from 'node:fs';
import pg from 'pg';

/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold
 * spaces and parentheses): [0] is the state, [1] the parent pid, [11] and
 * [12] utime and stime, [13] and [14] cutime and cstime (children reaped).
 * Undefined when the process does not exist (ended, or on another machine).
 */
export function statFields(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system clock ticks of a process, from its statFields. */
export function cpuTicks(fields: readonly string[]): number {
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * The pids of the PostgreSQL that `url` reaches (its postmaster and its
 * children: backends, WAL writer, checkpointer...), when it runs on this
 * machine; [] otherwise.
 */
async function postgresPids(url: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ setting: string }>(`SELECT setting FROM pg_settings WHERE name = 'data_directory'`);
    const postmaster = Number(fs.readFileSync(`${rows[0]!.setting}/postmaster.pid`, 'utf8').split('\n')[0]);
    const children = fs
      .readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => Number(statFields(pid)?.[1]) === postmaster);
    return [postmaster, ...children.map(Number)];
  } catch {
    return [];
  } finally {
    await client.end();
  }
}

/** CPU seconds (user + system) the PostgreSQL of `url` has used: its postmaster, its children (read again each time: backends come and go) and those that ended. */
export async function postgresCpuSeconds(url: string): Promise<number> {
  let ticks = 0;
  const pids = await postgresPids(url);
  if (pids.length === 0) return Number.NaN;
  for (const [index, pid] of pids.entries()) {
    // Undefined: it ended meanwhile.
    const fields = statFields(pid);
    if (fields === undefined) continue;
    ticks += cpuTicks(fields);
    // The postmaster's cutime and cstime: the children it has reaped (a backend that ended takes its ticks there).
    if (index === 0) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}
