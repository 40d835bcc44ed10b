import { ConfigError } from '../config/env-reader';
import { loadConfig, type Config } from '../config/load-config';
import { VaultError } from '../domain/vault-error';
import { createLogger, type Logger } from '../observability/create-logger';
import pino from 'pino';
import { EXIT, UsageError, type CliIo } from './output';
import { countCommand } from './remote/count-command';
import { queryCommand } from './remote/query-command';
import { runRemoteCommand } from './remote/remote-command';
import { tailCommand } from './remote/tail-command';

/*
 * The server and the database commands load their modules (the server, pg,
 * migrations) on first use, so that the remote commands start quickly.
 */
const adminCommands = (): typeof import('./admin-commands') => require('./admin-commands') as typeof import('./admin-commands');
const serveCommands = (): typeof import('./serve-command') => require('./serve-command') as typeof import('./serve-command');

/** The commands that talk to a running vault over gRPC: no server configuration, no database. */
const REMOTE_COMMANDS: Readonly<Record<string, (args: string[], io: CliIo) => Promise<number>>> = {
  tail: (args, io) => runRemoteCommand('tail', tailCommand, args, io),
  query: (args, io) => runRemoteCommand('query', queryCommand, args, io),
  count: (args, io) => runRemoteCommand('count', countCommand, args, io),
};

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

Commands on a running vault (VAULT_ADDRESS or --address, VAULT_API_KEY or --api-key;
each has --help; see docs/cli.md):
  tail  [--service S]... [--type T]... [--contains JSON] [--since 15m]
  query [filters] [--from T] [--to T] [--limit N | --all] [--oldest-first]
  count [filters] [--by type|service]... [--bucket 1h]

Every command takes --json for machine-readable output on stdout.
Configuration comes from environment variables; see docs/configuration.md.
`;

/** Runs one command line and returns the process exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.stderr : io.stdout).write(USAGE);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  const remote = REMOTE_COMMANDS[command];
  if (remote) return remote(args, io);
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
        await serveCommands().serveCommand(args, io, config, logger);
        break;
      case 'migrate':
        await adminCommands().migrateCommand(args, io, config, logger);
        break;
      case 'tenant':
        await adminCommands().tenantCommand(args, io, config, logger);
        break;
      case 'key':
        await adminCommands().keyCommand(args, io, config, logger);
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
