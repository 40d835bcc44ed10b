import type { EventFilter, JsonObject } from '@telemetry-vault/client';
import { UsageError } from '../output';
import { parseTimeFlag } from './parse-time';

/** The filter flags of tail, query and count (parseArgs options). */
export const FILTER_OPTIONS = {
  service: { type: 'string', multiple: true },
  type: { type: 'string', multiple: true },
  contains: { type: 'string' },
} as const;

/** The time window flags of query and count. */
export const WINDOW_OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  since: { type: 'string' },
} as const;

export const FILTER_USAGE = `Filters:
  --service S            events of service S (repeat for any of several)
  --type T               events of type T, e.g. log, metric, span (repeat for any of several)
  --contains JSON        payloads containing this JSON object, e.g. '{"level":"error"}'
`;

export const WINDOW_USAGE = `  --from T               from T on (inclusive); T is RFC 3339 (2024-05-01T12:00:00Z),
                         "now", or a duration ago (15m, 2h, 7d)
  --to T                 before T (exclusive)
  --since D              the same as --from D: the last D (15m, 2h, 7d)
`;

export interface FilterFlags {
  readonly service?: string[];
  readonly type?: string[];
  readonly contains?: string;
}

export interface WindowFlags {
  readonly from?: string;
  readonly to?: string;
  readonly since?: string;
}

/** The SDK filter of --service, --type and --contains, with the given time window. */
export function eventFilter(flags: FilterFlags, window: { readonly start?: Date; readonly end?: Date } = {}): EventFilter {
  return {
    ...window,
    eventTypes: flags.type ?? [],
    serviceNames: flags.service ?? [],
    ...(flags.contains === undefined ? {} : { payloadContains: parseContains(flags.contains) }),
  };
}

/** --from, --to and --since as a time window. */
export function timeWindow(flags: WindowFlags, now: Date): { start?: Date; end?: Date } {
  if (flags.from !== undefined && flags.since !== undefined) throw new UsageError('--from and --since both set the start: give one of them');
  const from = flags.from ?? flags.since;
  const start = from === undefined ? undefined : parseTimeFlag(from, flags.from === undefined ? '--since' : '--from', now);
  const end = flags.to === undefined ? undefined : parseTimeFlag(flags.to, '--to', now);
  if (start && end && end <= start) throw new UsageError(`--to (${end.toISOString()}) must be after --from (${start.toISOString()})`);
  return { ...(start ? { start } : {}), ...(end ? { end } : {}) };
}

function parseContains(text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--contains must be a JSON object such as '{"level":"error"}' (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`--contains must be a JSON object such as '{"level":"error"}' (got ${text})`);
  return value as JsonObject;
}
