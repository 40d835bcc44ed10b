import { parseDuration } from '../../config/parse-duration';
import { UsageError } from '../output';

const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

/**
 * A duration flag (`15m`, `2h`, `7d`, `1h30m`, `500ms`) in milliseconds. A
 * bare number is refused: `--since 15` would be 15 ms, never what was meant.
 */
export function parseDurationFlag(text: string, flag: string): number {
  const ms = /^\s*\d+\s*$/.test(text) ? undefined : parseDuration(text);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration with a unit, such as 30s, 15m, 2h or 7d (got "${text}")`);
  return ms;
}

/**
 * A time flag: an RFC 3339 time (`2024-05-01T12:00:00Z`, `...+02:00`, or a
 * date, taken as midnight UTC), `now`, or a duration ago (`15m` = 15 minutes
 * before `now`).
 */
export function parseTimeFlag(text: string, flag: string, now: Date): Date {
  const trimmed = text.trim();
  if (trimmed === 'now') return now;
  if (RFC3339.test(trimmed)) {
    const ms = Date.parse(trimmed.length === 10 ? `${trimmed}T00:00:00Z` : trimmed);
    if (Number.isFinite(ms)) return new Date(ms);
  } else if (!/^\d+$/.test(trimmed)) {
    const ago = parseDuration(trimmed);
    if (ago !== undefined) return new Date(now.getTime() - ago);
  }
  throw new UsageError(`${flag} must be an RFC 3339 time (2024-05-01T12:00:00Z), "now", or a duration ago such as 15m, 2h or 7d (got "${text}")`);
}
