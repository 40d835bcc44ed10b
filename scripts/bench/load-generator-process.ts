import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { JobReply, JobRequest, LoadGeneratorJobs } from './load-generator';

const ROOT = path.resolve(__dirname, '../..');

type Job = keyof LoadGeneratorJobs;
type JobParams<K extends Job> = Parameters<LoadGeneratorJobs[K]>[0];
type JobResult<K extends Job> = Awaited<ReturnType<LoadGeneratorJobs[K]>>;

/** The load generator process (load-generator.ts, run through scripts/register-ts.js); `run(job, params)` resolves with the job's result. */
export class LoadGenerator {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 0;

  constructor() {
    this.child = fork(path.join(__dirname, 'load-generator.ts'), [], {
      execArgv: ['--enable-source-maps', '-r', path.join(ROOT, 'scripts/register-ts.js')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', ({ id, result, error }: JobReply) => {
      const pending = this.pending.get(id);
      this.pending.delete(id);
      if (error !== undefined) pending?.reject(new Error(error));
      else pending?.resolve(result);
    });
    this.child.on('exit', (code) => {
      for (const pending of this.pending.values()) pending.reject(new Error(`the load generator exited with ${code}`));
    });
  }

  run<K extends Job>(job: K, params: JobParams<K>): Promise<JobResult<K>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      const request: JobRequest = { id, job, params };
      this.child.send(request);
    });
  }

  stop(): void {
    this.child.kill();
  }
}
