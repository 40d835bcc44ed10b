import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import type { EventFilter, SortOrder } from './event-filter';

/** Bytes of the fingerprint kept in a cursor: 128 bits make an accidental match between two filters unthinkable. */
export const SCOPE_BYTES = 16;

/**
 * The fingerprint of what a cursor walks: the filter (in canonical form) and
 * the order. Page size and payload format are left out: they may change from
 * one page to the next without changing which events come next.
 */
export function queryScope(filter: EventFilter, order: SortOrder): Buffer {
  const text = canonicalJson({
    order,
    start: filter.startUs?.toString() ?? null,
    end: filter.endUs?.toString() ?? null,
    types: filter.eventTypes,
    services: filter.serviceNames,
    payload: filter.payloadContains ?? null,
  });
  return createHash('sha256').update(text).digest().subarray(0, SCOPE_BYTES);
}
