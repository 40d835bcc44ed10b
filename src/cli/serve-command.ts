import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import type { Config } from '../config/load-config';
import type { CreatedApiKey } from '../domain/tenants/admin-service';
import type { Logger } from '../observability/create-logger';
import type { Metrics } from '../observability/create-metrics';
import { startVault } from '../main';
import { UsageError, type CliIo } from './output';

/** How often `--exit-with-parent` checks that the parent process is still there. */
const PARENT_CHECK_INTERVAL_MS = 500;

/**
 * `telemetry-vault serve [--exit-with-parent]`: runs the server until SIGTERM
 * or SIGINT, then drains (see Vault.shutdown) and resolves, so that the
 * process exits 0. A second signal while draining stops at once with exit
 * code 1.
 *
 * With `--exit-with-parent` (what `npm start` uses) the server also drains and
 * exits when the process that started it goes away: a supervisor that sends
 * SIGTERM to `npm start` stops npm, and npm does not pass the signal on, so
 * without this the server would be left running, orphaned.
 */
export async function serveCommand(args: readonly string[], io: CliIo, config: Config, logger: Logger): Promise<void> {
  const unknown = args.filter((arg) => arg !== '--exit-with-parent');
  if (unknown.length > 0) throw new UsageError(`unknown option for serve: ${unknown[0]}`);
  const exitWithParent = args.includes('--exit-with-parent');
  const parentPid = process.ppid;
  // Under a steady ingest load V8's own heuristics let garbage grow the heap to
  // several times what is live; collecting once it has doubled keeps resident
  // memory near the live set (HEAP_GROWTH_PERCENT; measured in docs/performance.md).
  if (config.heapGrowthPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowthPercent}`);
  const vault = await startVault(config, logger);
  guardUnhandledRejections(logger, vault.metrics);
  if (vault.firstRunKey) printFirstRun(io, vault.firstRunKey, vault.grpcPort);
  await new Promise<void>((resolve) => {
    let signals = 0;
    let parentWatch: NodeJS.Timeout | undefined;
    const stop = (log: () => void): void => {
      if (parentWatch) clearInterval(parentWatch);
      log();
      vault.shutdown().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        resolve();
      });
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal while draining: stopping now');
        process.exit(1);
      }
      stop(() => logger.info({ signal }, 'signal received'));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (exitWithParent) {
      parentWatch = setInterval(() => {
        if (signals > 0 || parentIsAlive(parentPid)) return;
        signals += 1;
        stop(() => logger.info({ parentPid }, 'the parent process is gone (--exit-with-parent): shutting down'));
      }, PARENT_CHECK_INTERVAL_MS);
      parentWatch.unref();
    }
  });
}

/**
 * A promise that rejects while no code waits on it ends a Node.js process by
 * default, with every call in flight. Each such rejection is a bug (one was:
 * a StreamEvents read ahead that failed while its client was not reading,
 * docs/reliability.md), and no client may end the server through one: once
 * the server is up, it is logged as an error with its cause and counted
 * (`telemetry_vault_unhandled_rejections_total`), and the server goes on.
 * Uncaught exceptions still end the process: state may be broken after one.
 */
export function guardUnhandledRejections(logger: Logger, metrics: Pick<Metrics, 'unhandledRejections'>): void {
  process.on('unhandledRejection', (reason: unknown) => {
    metrics.unhandledRejections.inc();
    logger.error({ err: reason }, 'a promise failed and nothing handled it (a bug: please report it with this line); the server goes on');
  });
}

/**
 * Whether `parentPid` is still this process's parent. On Linux the current
 * parent is read from /proc (an orphan is re-parented to init or a subreaper);
 * elsewhere, whether a process with that id still exists.
 */
export function parentIsAlive(parentPid: number): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) return ppid === parentPid;
  } catch {
    // not Linux: fall through
  }
  try {
    process.kill(parentPid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The first-run banner: the demo key (shown this once) and a command to try it. */
function printFirstRun(io: CliIo, created: CreatedApiKey, grpcPort: number): void {
  const event = { event_id: 'hello-1', timestamp: new Date().toISOString(), event_type: 'log', service_name: 'demo', payload: { message: 'hello' } };
  io.stderr.write(
    [
      '',
      '================================================================================',
      ` First run: created tenant "${created.tenant.name}" and its API key (shown only this once):`,
      '',
      `   ${created.key}`,
      '',
      ' Try it:',
      `   grpcurl -plaintext localhost:${grpcPort} list`,
      `   grpcurl -plaintext -H 'x-api-key: ${created.key}' \\`,
      `     -d '${JSON.stringify({ events: [event] })}' \\`,
      `     localhost:${grpcPort} telemetry.v1.IngestService/Ingest`,
      '================================================================================',
      '',
      '',
    ].join('\n'),
  );
}
