import { runCli } from './run-cli';

/**
 * The `telemetry-vault` executable. Exits explicitly once the command is done,
 * so that no leftover handle (an idle socket, a timer) keeps a finished
 * command or a drained server alive.
 */
runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`telemetry-vault: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
