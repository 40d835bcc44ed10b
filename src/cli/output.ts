import type { Writable } from 'node:stream';

/** Where a command writes: stdout for results, stderr for diagnostics. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/**
 * Exit codes: 0 done, 1 failed (for a remote command: the call ended with a
 * gRPC status), 2 bad command line, 78 bad configuration (EX_CONFIG), 130
 * interrupted by Ctrl+C (128 + SIGINT; `tail` exits 0 instead, its normal end).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78, interrupted: 130 } as const;

/** Thrown for a command line that cannot be run: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Writes `value` as indented JSON (what `--json` prints). */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes rows as an aligned text table with a header line. */
export function printTable(io: CliIo, headers: readonly string[], rows: readonly (readonly string[])[]): void {
  io.stdout.write(formatTable(headers, rows));
}

/** Rows as an aligned text table with a header line; the columns listed in `rightAligned` (numbers) align right. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (rightAligned.includes(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** A date for humans, or a dash. */
export function formatDate(date: Date | undefined): string {
  return date ? date.toISOString() : '-';
}
