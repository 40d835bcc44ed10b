import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, statFields } from './proc-stat';

const ROOT = path.resolve(__dirname, '../..');

/** What `telemetry-vault serve` logs once it listens. */
interface ServingLine {
  readonly grpcPort: number;
}

/** What a measured piece of work cost the server. */
export interface Measured<T> {
  readonly result: T;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

/** The vault server as a child process; its CPU and memory are read from /proc. */
export class VaultProcess {
  private readonly child: ChildProcess;
  private stderr = '';
  readonly serving: Promise<ServingLine>;

  /**
   * `nodeArgs`: options for node itself, such as --cpu-prof (which NODE_OPTIONS may not carry).
   * `root`: the checkout whose bin/ and dist/ run (another build, for A/B runs); this one by default.
   * `command`: what node runs instead of `bin/telemetry-vault.js serve` (see bareIngest).
   */
  constructor(env: Record<string, string>, nodeArgs: readonly string[] = [], root = ROOT, command: readonly string[] = [path.join(root, 'bin/telemetry-vault.js'), 'serve']) {
    this.child = spawn(process.execPath, [...nodeArgs, ...command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.serving = new Promise((resolve, reject) => {
      const stdout = this.child.stdout!;
      let partial = '';
      const onData = (chunk: Buffer): void => {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          if (!line.includes('telemetry vault serving')) continue;
          stdout.off('data', onData);
          // The rest of the log is read and dropped, so that the pipe never fills.
          stdout.resume();
          resolve(JSON.parse(line) as ServingLine);
        }
      };
      stdout.on('data', onData);
      this.child.on('exit', (code) => reject(new Error(`the server exited with ${code}: ${this.stderr}`)));
    });
  }

  /** The small-calls bench's transport floor (bare-ingest-server.ts) in place of the vault. */
  static bareIngest(): VaultProcess {
    return new VaultProcess({ GRPC_HOST: '127.0.0.1' }, ['-r', path.join(ROOT, 'scripts/register-ts.js')], ROOT, [path.join(ROOT, 'scripts/bench/bare-ingest-server.ts')]);
  }

  /** User + system CPU seconds so far. */
  cpuSeconds(): number {
    const fields = statFields(this.child.pid!);
    if (fields === undefined) throw new Error(`the server (pid ${this.child.pid}) has exited: ${this.stderr}`);
    return cpuTicks(fields) / CLOCK_TICKS_PER_SECOND;
  }

  /** Resident memory now, in MiB. */
  rssMiB(): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  }

  /** Runs `work`, sampling RSS every 50 ms; resolves with its result, the CPU seconds spent and the peak RSS. */
  async measure<T>(work: () => Promise<T>): Promise<Measured<T>> {
    let peak = this.rssMiB();
    const sampler = setInterval(() => (peak = Math.max(peak, this.rssMiB())), 50);
    const cpuBefore = this.cpuSeconds();
    try {
      const result = await work();
      return { result, cpuSeconds: this.cpuSeconds() - cpuBefore, peakRssMiB: Math.max(peak, this.rssMiB()) };
    } finally {
      clearInterval(sampler);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.on('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
