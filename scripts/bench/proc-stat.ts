/** Reading a process's /proc/<pid>/stat, for the benchmarks' CPU figures (Linux). */
import fs from 'node:fs';

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
