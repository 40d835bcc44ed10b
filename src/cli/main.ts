import type { Tracing } from '../observability/start-tracing';
import { runCli } from './run-cli';

/**
 * The `telemetry-vault` executable, called by bin/telemetry-vault.js after it
 * started tracing (when asked for). Exits explicitly once the command is done,
 * so that no leftover handle (an idle socket, a timer) keeps a finished
 * command or a drained server alive; the tracing SDK is flushed first.
 */
export async function main(tracing: Tracing | undefined): Promise<never> {
  let code: number;
  try {
    code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
  } catch (error) {
    process.stderr.write(`telemetry-vault: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    code = 1;
  }
  await tracing?.shutdown().catch((error: unknown) => process.stderr.write(`telemetry-vault: flushing traces failed: ${String(error)}\n`));
  process.exit(code);
}
