import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/load-config';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Human-readable output through pino-pretty; JSON lines otherwise. */
  readonly pretty: boolean;
  /** Where lines go; stdout when omitted (tests pass a capture stream). */
  readonly destination?: DestinationStream;
}

/**
 * Paths that could carry a secret. API keys are never logged on purpose; this
 * is the second line of defence if one ends up in a logged object anyway.
 */
const REDACT_PATHS = [
  'key',
  'apiKey',
  'authorization',
  'password',
  '*.key',
  '*.apiKey',
  '*.authorization',
  '*.password',
  'metadata["x-api-key"]',
  'metadata.authorization',
];

/** The process logger: one JSON line per event worth logging. */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { service: 'telemetry-vault' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino(base, bufferedStdout());
}

/** Log lines are written to stdout in batches of about this many bytes... */
export const LOG_BATCH_BYTES = 4096;
/** ...or every this many ms, whichever comes first. */
export const LOG_FLUSH_INTERVAL_MS = 100;
/** Lines waiting beyond this (stdout blocked) are dropped, so that memory stays bounded. */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * stdout, written in batches: one write per ~4 KiB of lines or per 100 ms
 * instead of one per line. A line per call made every small call pay a
 * write and a wake-up of whatever reads the log (docs/performance.md). The
 * writes stay synchronous, so the batch is written in full at exit (also
 * after an uncaught error); only a SIGKILL can lose the last 100 ms.
 */
function bufferedStdout(): DestinationStream {
  const destination = pino.destination({ fd: 1, sync: true, minLength: LOG_BATCH_BYTES, maxLength: LOG_BUFFER_MAX_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // stdout is gone: nothing to write to.
    }
  });
  return destination;
}
