import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** Runs test/support/read-ahead-failure.ts in a Node.js process of its own, as the server runs (Node's default for unhandled rejections). */
function runScript(stalledMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-r', path.join(ROOT, 'scripts/register-ts.js'), path.join(ROOT, 'test/support/read-ahead-failure.ts'), String(stalledMs)], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('streamPages: a read ahead that fails while its client is not reading', () => {
  test('when the read ahead fails while the chunk before it waits for the client, then the process goes on and the stream fails with the read\'s error once the client reads', async () => {
    const { code, stdout, stderr } = await runScript(300);
    // Before the fix, Node ended the process here (exit code 1, "the server is overloaded..." on stderr).
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout.trim())).toEqual({ ended: 'failed', message: 'the server is overloaded: no database connection became free within 2000 ms; retry the call', reads: 2 });
  });
});
