import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const CLI_BIN = path.resolve(__dirname, '../../bin/telemetry-vault.js');

/** How long `exited` waits, after the process has exited, for its stdout pipe to end. */
const STDOUT_END_WAIT_MS = 2000;

/** `telemetry-vault serve` in a child process, as a user runs it. */
export class ServerProcess {
  readonly stdoutLines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(env: Record<string, string>, args: string[] = ['serve']) {
    this.child = spawn(process.execPath, [CLI_BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      this.stdoutLines.push(...lines.filter((line) => line.trim() !== ''));
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.child.stdout!.on('end', () => {
      if (partial.trim() !== '') this.stdoutLines.push(partial);
      partial = '';
    });
    // 'exit' can come before the last lines are read from the pipe: wait for stdout to end too, so that
    // records() holds every line once exited resolves (bounded, should something else hold the pipe open).
    const stdoutEnded = new Promise<void>((resolve) => this.child.stdout!.once('close', () => resolve()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        const bound = new Promise<void>((ended) => setTimeout(ended, STDOUT_END_WAIT_MS).unref());
        void Promise.race([stdoutEnded, bound]).then(() => resolve({ code, signal }));
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Parsed JSON log records so far. */
  records(): Record<string, unknown>[] {
    return this.stdoutLines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** Waits for the "serving" log line and returns the ports it names. */
  async serving(timeoutMs = 60_000): Promise<{ grpcPort: number; httpPort: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.records().find((record) => record.msg === 'telemetry vault serving');
      if (line) return { grpcPort: Number(line.grpcPort), httpPort: Number(line.httpPort) };
      if (this.child.exitCode !== null) throw new Error(`the server exited with ${this.child.exitCode}:\n${this.stderr}\n${this.stdoutLines.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`the server did not serve within ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
