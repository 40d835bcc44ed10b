import type { QuerySettings } from '../../config/load-config';
import { invalidArgument } from '../vault-error';
import { canonicalJson } from './canonical-json';
import type { EventFilter, EventFilterInput } from './event-filter';
import { timePointToMicros } from './time-point';

/** The limits a filter is checked against (QUERY_FILTER_MAX_VALUES, QUERY_PAYLOAD_CONTAINS_MAX_SIZE and _DEPTH). */
export type FilterLimits = Pick<QuerySettings, 'filterMaxValues' | 'payloadContainsMaxBytes' | 'payloadContainsMaxDepth'>;

/**
 * Checks a filter and puts it in canonical form. Throws INVALID_ARGUMENT
 * naming the field (`filter.end_time`, `filter.payload_contains`...) at fault.
 */
export function validateEventFilter(input: EventFilterInput | undefined, limits: FilterLimits): EventFilter {
  if (input === undefined) return { startUs: undefined, endUs: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined };
  const startUs = input.startTime && timePointToMicros(input.startTime, 'filter.start_time');
  const endUs = input.endTime && timePointToMicros(input.endTime, 'filter.end_time');
  if (startUs !== undefined && endUs !== undefined && endUs < startUs) {
    throw invalidArgument('filter.end_time', 'must not be before filter.start_time');
  }
  return {
    startUs,
    endUs,
    eventTypes: checkValues('filter.event_types', input.eventTypes, limits.filterMaxValues),
    serviceNames: checkValues('filter.service_names', input.serviceNames, limits.filterMaxValues),
    payloadContains: checkPayloadContains(input.payloadContains, limits),
  };
}

function checkValues(field: string, values: readonly string[], max: number): string[] {
  if (values.length > max) throw invalidArgument(field, `must hold at most ${max} values (QUERY_FILTER_MAX_VALUES)`);
  for (const value of values) {
    if (value === '') throw invalidArgument(field, 'must not contain an empty string');
    if (value.includes('\u0000')) throw invalidArgument(field, 'must not contain U+0000');
  }
  return [...new Set(values)].sort(compareCodeUnits);
}

const FIELD = 'filter.payload_contains';

function checkPayloadContains(value: Readonly<Record<string, unknown>> | undefined, limits: FilterLimits): string | undefined {
  // An empty object is contained in every payload: the same as no condition.
  if (value === undefined || Object.keys(value).length === 0) return undefined;
  checkNode(value, 1, limits.payloadContainsMaxDepth);
  const text = canonicalJson(value);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.payloadContainsMaxBytes) {
    throw invalidArgument(FIELD, `is ${bytes} bytes as JSON, over the limit of ${limits.payloadContainsMaxBytes} (QUERY_PAYLOAD_CONTAINS_MAX_SIZE)`);
  }
  return text;
}

/** Walks the value, failing as soon as it is too deep or holds what JSONB cannot. */
function checkNode(value: unknown, depth: number, maxDepth: number): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw invalidArgument(FIELD, 'must not contain U+0000 (PostgreSQL JSONB cannot hold it)');
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidArgument(FIELD, 'numbers must be finite');
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth > maxDepth) throw invalidArgument(FIELD, `is nested deeper than ${maxDepth} levels (QUERY_PAYLOAD_CONTAINS_MAX_DEPTH)`);
  if (Array.isArray(value)) {
    for (const item of value) checkNode(item, depth + 1, maxDepth);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    checkNode(key, depth, maxDepth);
    checkNode(item, depth + 1, maxDepth);
  }
}

/** Byte order for ASCII, as PostgreSQL's "C" collation sorts. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
