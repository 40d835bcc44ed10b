import { formatByteSize, parseByteSize } from './parse-byte-size';
import { formatDuration, parseDuration } from './parse-duration';

/** Thrown by loadConfig: every bad variable, each message naming its variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

interface Range {
  min?: number;
  max?: number;
}

/** How a variable is read, which says how its default is written. */
export type EnvVariableKind = 'string' | 'integer' | 'duration' | 'size' | 'boolean' | 'choice' | 'url';

/** A variable a reader was asked for, with its default as docs/configuration.md writes it. */
export interface EnvVariableRead {
  readonly name: string;
  readonly kind: EnvVariableKind;
  /** `30s`, `64KiB`, `100`, `false`, `./.data`...; `unset` when there is no default. */
  readonly defaultText: string;
}

/**
 * Reads typed values from an environment map, collecting one message per bad
 * variable so that start-up can report them all at once.
 */
export class EnvReader {
  private readonly problems: string[] = [];
  private readonly asked = new Map<string, EnvVariableRead>();
  private readonly formerNames = new Map<string, string>();
  private readonly notices = new Set<string>();

  constructor(private readonly env: Readonly<Record<string, string | undefined>>) {}

  /**
   * `formerName` is what `name` used to be called: it is still read when
   * `name` is unset, with a notice (see deprecations()); both set is a problem.
   */
  renamed(name: string, formerName: string): this {
    this.formerNames.set(name, formerName);
    return this;
  }

  /** One line per former name still in use, for the start-up log. */
  deprecations(): readonly string[] {
    return [...this.notices];
  }

  /**
   * Every variable asked for so far, once each, in the order first asked, with
   * its default: what the configuration docs must list (a test compares them).
   */
  variables(): readonly EnvVariableRead[] {
    return [...this.asked.values()];
  }

  /** The raw value, or undefined when unset or empty. */
  raw(name: string): string | undefined {
    this.record(name, 'string', 'unset');
    const value = trimmed(this.env[name]);
    const formerName = this.formerNames.get(name);
    const former = formerName === undefined ? undefined : trimmed(this.env[formerName]);
    if (former === undefined) return value;
    if (value !== undefined) {
      const problem = `${formerName} is the former name of ${name}; both are set: unset ${formerName}`;
      if (!this.problems.includes(problem)) this.problems.push(problem);
      return value;
    }
    this.notices.add(`${formerName} is deprecated: it is now called ${name} (its value is used)`);
    return former;
  }

  string(name: string, fallback: string): string {
    this.record(name, 'string', fallback);
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  integer(name: string, fallback: number, range: Range = {}): number {
    this.record(name, 'integer', String(fallback));
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!/^-?\d+$/.test(text)) return this.fail(name, `must be an integer${describeRange(range)}`, text, fallback);
    return this.checkRange(name, Number(text), range, text, fallback);
  }

  /** A duration (`500ms`, `5s`, `10m`, `1h`, or bare milliseconds), in milliseconds. */
  durationMs(name: string, fallbackMs: number, range: Range = {}): number {
    this.record(name, 'duration', formatDuration(fallbackMs));
    const text = this.raw(name);
    if (text === undefined) return fallbackMs;
    const ms = parseDuration(text);
    if (ms === undefined) {
      return this.fail(name, `must be a duration such as 500ms, 5s, 10m or 1h${describeRange(range, formatDuration)}`, text, fallbackMs);
    }
    return this.checkRange(name, ms, range, text, fallbackMs, formatDuration);
  }

  /** A size (`65536`, `64KiB`, `8MiB`), in bytes. */
  bytes(name: string, fallback: number, range: Range = {}): number {
    this.record(name, 'size', formatByteSize(fallback).replace(/ bytes$/, '').replace(' ', ''));
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const bytes = parseByteSize(text);
    if (bytes === undefined) {
      return this.fail(name, `must be a size such as 65536, 64KiB or 8MiB${describeRange(range, formatByteSize)}`, text, fallback);
    }
    return this.checkRange(name, bytes, range, text, fallback, formatByteSize);
  }

  boolean(name: string, fallback: boolean): boolean {
    this.record(name, 'boolean', String(fallback));
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const lower = text.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
    if (['0', 'false', 'no', 'off'].includes(lower)) return false;
    return this.fail(name, 'must be true or false', text, fallback);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    this.record(name, 'choice', fallback);
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const found = allowed.find((candidate) => candidate === text.toLowerCase());
    if (found === undefined) return this.fail(name, `must be one of ${allowed.join(', ')}`, text, fallback);
    return found;
  }

  /** A URL whose scheme is one of `protocols` (each with its trailing colon). */
  url(name: string, protocols: readonly string[]): string | undefined {
    this.record(name, 'url', 'unset');
    const text = this.raw(name);
    if (text === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return this.fail(name, `must be a URL (${protocols.map((p) => `${p}//...`).join(' or ')})`, redactUrl(text), undefined);
    }
    if (!protocols.includes(parsed.protocol)) {
      return this.fail(name, `must use ${protocols.join(' or ')}`, redactUrl(text), undefined);
    }
    return text;
  }

  /** Records a problem found by a cross-variable check. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError naming every bad variable, if there was any. */
  finish(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }

  /** The first way a variable is asked for wins (the typed readers call raw() after recording). */
  private record(name: string, kind: EnvVariableKind, defaultText: string): void {
    if (!this.asked.has(name)) this.asked.set(name, { name, kind, defaultText });
  }

  private checkRange<T>(name: string, value: number, range: Range, text: string, fallback: T, format: (n: number) => string = String): number | T {
    if ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)) {
      return this.fail(name, `must be${describeRange(range, format)}`, text, fallback);
    }
    return value;
  }

  private fail<T>(name: string, rule: string, text: string, fallback: T): T {
    this.problems.push(`${name} ${rule} (got "${text}")`);
    return fallback;
  }
}

function describeRange(range: Range, format: (n: number) => string = String): string {
  if (range.min !== undefined && range.max !== undefined) return ` between ${format(range.min)} and ${format(range.max)}`;
  if (range.min !== undefined) return ` of at least ${format(range.min)}`;
  if (range.max !== undefined) return ` of at most ${format(range.max)}`;
  return '';
}

function trimmed(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Hides the password of a URL so that it can go into messages and logs. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return text.replace(/\/\/[^@/]*@/, '//***@');
  }
}
