import net from 'node:net';
import type { HttpFuzzCase, HttpOutcome } from './http-cases';

/** A case whose outcome the contract does not allow. */
export interface HttpFuzzFailure {
  readonly caseName: string;
  readonly outcomes: readonly HttpOutcome[];
  readonly problem: string;
}

export class HttpFuzzReport {
  calls = 0;
  readonly outcomes = new Map<string, number>();
  readonly failures: HttpFuzzFailure[] = [];

  add(other: HttpFuzzReport): void {
    this.calls += other.calls;
    for (const [outcome, count] of other.outcomes) this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + count);
    this.failures.push(...other.failures);
  }

  summary(): string {
    const outcomes = [...this.outcomes].sort(([, a], [, b]) => b - a).map(([outcome, count]) => `${outcome} ${count}`);
    const lines = [`HTTP port: ${this.calls} connections; responses: ${outcomes.join(', ')}; ${this.failures.length} failures`];
    for (const failure of this.failures.slice(0, 20)) lines.push(`  FAIL ${failure.caseName.slice(0, 200)} -> ${failure.outcomes.join(',')}: ${failure.problem}`);
    return lines.join('\n');
  }
}

/**
 * A connection that gets no answer and is not closed within this time is a
 * failure: the port's own request timeout (HTTP_LIMITS) is shorter, so only a
 * stuck handler reaches it. A safety net, not a measurement.
 */
const STUCK_AFTER_MS = 45_000;

/** Sends each case on a connection of its own (`concurrency` at a time) and checks every response's status. */
export async function runHttpFuzzCases(port: number, cases: readonly HttpFuzzCase[], options: { readonly concurrency: number; readonly host?: string }): Promise<HttpFuzzReport> {
  const report = new HttpFuzzReport();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const fuzzCase = cases[next++]!;
      const { outcomes, problem } = await exchange(options.host ?? '127.0.0.1', port, fuzzCase.bytes, fuzzCase.halfClose ?? true);
      report.calls += 1;
      for (const outcome of outcomes) report.outcomes.set(String(outcome), (report.outcomes.get(String(outcome)) ?? 0) + 1);
      const unexpected = outcomes.filter((outcome) => !fuzzCase.expect.includes(outcome));
      if (problem !== undefined) report.failures.push({ caseName: fuzzCase.name, outcomes, problem });
      else if (unexpected.length > 0) report.failures.push({ caseName: fuzzCase.name, outcomes, problem: `expected ${fuzzCase.expect.join(' or ')}` });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return report;
}

/** Writes `bytes`, half-closes (unless told not to), and reads until the server closes: the status of every response, or `closed`. */
function exchange(host: string, port: number, bytes: Buffer, halfClose = true): Promise<{ outcomes: HttpOutcome[]; problem?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (problem?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((match) => Number(match[1]));
      resolve({ outcomes: statuses.length > 0 ? statuses : ['closed'], problem });
    };
    const timer = setTimeout(() => finish(`no answer and no close within ${STUCK_AFTER_MS} ms`), STUCK_AFTER_MS);
    socket.on('connect', () => (halfClose ? socket.end(bytes) : socket.write(bytes)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after the server answered (it closes while we still write) is an ordinary end.
    socket.on('error', (error: NodeJS.ErrnoException) => finish(chunks.length === 0 && error.code === 'ECONNREFUSED' ? 'connection refused: the server is down' : undefined));
    socket.on('close', () => finish());
  });
}

/** Whether the port still answers GET /healthz with 200. */
export async function httpHealthy(port: number, host = '127.0.0.1'): Promise<boolean> {
  const { outcomes } = await exchange(host, port, Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), false);
  return outcomes.length === 1 && outcomes[0] === 200;
}
