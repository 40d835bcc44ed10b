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
  return pino(base);
}
