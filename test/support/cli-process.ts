import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_BIN } from './server-process';

/** How a finished `telemetry-vault` child process ended, with what it printed. */
export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a CLI child: PATH and the given variables only (nothing of the test's own). */
function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...env };
}

/** Runs `node bin/telemetry-vault.js ...args` to its end, as a user does. */
export function runCliProcess(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new CliProcess(args, env).exited;
}

/** A `telemetry-vault` child that keeps running (tail): its output so far, signals, its end. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliRun>;
  private readonly child: ChildProcess;
  private closed = false;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [CLI_BIN, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.closed = true;
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      }),
    );
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    return this.stdout.split('\n').slice(0, -1);
  }

  /** Whether the process has ended and all it printed has been read. */
  get ended(): boolean {
    return this.closed;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
