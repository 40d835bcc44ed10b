import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/run-cli';

/** The outcome of one in-process `telemetry-vault` command. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for --json commands). */
  json<T = unknown>(): T;
}

class Capture extends Writable {
  text = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

/** Runs the CLI in this process with the given environment, capturing its output. */
export async function runCliCaptured(argv: string[], env: Record<string, string | undefined>, cwd = process.cwd()): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, env, cwd });
  return { code, stdout: stdout.text, stderr: stderr.text, json: <T>() => JSON.parse(stdout.text) as T };
}
