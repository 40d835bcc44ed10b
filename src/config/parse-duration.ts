const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a human duration such as `500ms`, `5s`, `10m`, `2h`, `30d` or a
 * combination (`1h30m`) into milliseconds. A bare number is taken as
 * milliseconds. Returns undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(trimmed); match !== null; match = part.exec(trimmed)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length || !Number.isFinite(total)) return undefined;
  return Math.round(total);
}

/** Formats milliseconds the way parseDuration reads them, for messages and docs. */
export function formatDuration(ms: number): string {
  if (ms % UNIT_MS.d! === 0 && ms > 0) return `${ms / UNIT_MS.d!}d`;
  if (ms % UNIT_MS.h! === 0 && ms > 0) return `${ms / UNIT_MS.h!}h`;
  if (ms % UNIT_MS.m! === 0 && ms > 0) return `${ms / UNIT_MS.m!}m`;
  if (ms % UNIT_MS.s! === 0 && ms > 0) return `${ms / UNIT_MS.s!}s`;
  return `${ms}ms`;
}
