import type { Writable } from 'node:stream';

/** Where a command writes: stdout for results, stderr for diagnostics. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

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
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  io.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** A date for humans, or a dash. */
export function formatDate(date: Date | undefined): string {
  return date ? date.toISOString() : '-';
}
