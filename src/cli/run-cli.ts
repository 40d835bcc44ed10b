import { ConfigError } from '../config/env-reader';
import { loadConfig, type Config } from '../config/load-config';
import { VaultError } from '../domain/vault-error';
import { createLogger, type Logger } from '../observability/create-logger';
import pino from 'pino';
import { keyCommand, migrateCommand, tenantCommand } from './admin-commands';
import { UsageError, type CliIo } from './output';
import { serveCommand } from './serve-command';

export const USAGE = `Usage: telemetry-vault <command> [options]

Commands:
  serve [--exit-with-parent]             run the server; --exit-with-parent also stops it
                                         when its parent process goes (what npm start runs)
  migrate                                apply database schema migrations
  tenant create NAME [--retention D] [--calls-per-minute N] [--events-per-second N] [--event-burst N]
  tenant update NAME [--retention D] [--calls-per-minute N] [--events-per-second N] [--event-burst N]
                                         each value, or "default" to return to the server-wide one
  tenant list
  key create TENANT [--expires-in DURATION]   prints the new key once
  key list TENANT
  key revoke KEY_ID

Every command takes --json for machine-readable output on stdout.
Configuration comes from environment variables; see docs/configuration.md.
`;

/** Exit codes: 0 done, 1 failed, 2 bad command line, 78 bad configuration (EX_CONFIG). */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const;

/** Runs one command line and returns the process exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  let config: Config;
  try {
    config = loadConfig(io.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`telemetry-vault: ${error.message}\n`);
      return EXIT.config;
    }
    throw error;
  }
  const logger = commandLogger(command, config);
  try {
    switch (command) {
      case 'serve':
        await serveCommand(args, io, config, logger);
        break;
      case 'migrate':
        await migrateCommand(args, io, config, logger);
        break;
      case 'tenant':
        await tenantCommand(args, io, config, logger);
        break;
      case 'key':
        await keyCommand(args, io, config, logger);
        break;
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`telemetry-vault: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (error instanceof VaultError) {
      io.stderr.write(`telemetry-vault: ${error.message}\n`);
      return EXIT.failed;
    }
    if (error instanceof ConfigError) {
      io.stderr.write(`telemetry-vault: ${error.message}\n`);
      return EXIT.config;
    }
    logger.error({ err: error }, `${command} failed`);
    io.stderr.write(`telemetry-vault: ${command} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  } finally {
    logger.flush();
  }
}

/**
 * The server logs JSON lines to stdout. Other commands keep stdout for their
 * output and log to stderr, warnings only unless LOG_LEVEL asks for more.
 */
function commandLogger(command: string, config: Config): Logger {
  if (command === 'serve') return createLogger(config.log);
  const level = config.log.levelSet ? config.log.level : 'warn';
  return createLogger({ level, pretty: false, destination: pino.destination({ fd: 2, sync: true }) });
}
