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

/** Field names that could carry a secret, at the top level of a log object or of its bindings, or one level down. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['key', 'apiKey', 'authorization', 'password']);
/** Under `metadata` (a call's request metadata), its API key header too. */
const SECRET_METADATA_FIELDS: ReadonlySet<string> = new Set([...SECRET_FIELDS, 'x-api-key']);
export const REDACTED = '[redacted]';

/**
 * API keys are never logged on purpose; this is the second line of defence
 * if one ends up in a logged object anyway. A field named in SECRET_FIELDS is
 * replaced by REDACTED at the top level of a log object and inside any object
 * one level down (an error included), and `metadata`'s `x-api-key` too. The
 * object logged is not changed: a copy is made, and only when something is
 * redacted. pino calls it on every line's object (formatters.log); a child
 * logger's bindings skip pino's formatters, so pino's `redact` covers their
 * top level (createLogger). Until 2026-12-07 pino's `redact` did all of it,
 * with wildcard paths (`*.key`) that sent every value of every line through
 * a clone: ~2.3 us and an eighth of the bytes a small unary call allocated
 * (docs/performance.md).
 */
export function redactSecrets(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const name of Object.keys(object)) {
    const value = object[name];
    if (SECRET_FIELDS.has(name)) {
      (copy ??= { ...object })[name] = REDACTED;
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const redacted = redactLevel(value, name === 'metadata' ? SECRET_METADATA_FIELDS : SECRET_FIELDS);
      if (redacted !== value) (copy ??= { ...object })[name] = redacted;
    }
  }
  return copy ?? object;
}

/** `value` with its own fields named in `secrets` replaced, as a copy of the same prototype; `value` itself when it has none. */
function redactLevel(value: object, secrets: ReadonlySet<string>): object {
  const names = Object.keys(value);
  if (!names.some((name) => secrets.has(name))) return value;
  // An error keeps its prototype (so the err serializer still names its type) and its message and stack.
  const copy = Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, name)!;
    Object.defineProperty(copy, name, secrets.has(name) && descriptor.enumerable === true ? { value: REDACTED, writable: true, enumerable: true, configurable: true } : descriptor);
  }
  return copy;
}

/** The process logger: one JSON line per event worth logging. */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { service: 'telemetry-vault' },
    // Top-level names only: pino then redacts just those keys (in child bindings too), and no other value pays for it.
    redact: { paths: [...SECRET_FIELDS], censor: REDACTED },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }), log: redactSecrets },
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
