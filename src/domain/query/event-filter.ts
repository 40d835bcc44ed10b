import type { TimePoint } from './time-point';

/** The order of results on the keyset (timestamp, event_id). */
export type SortOrder = 'newest-first' | 'oldest-first';

/** A filter as the client sent it (the transport's mapping of telemetry.v1.EventFilter). */
export interface EventFilterInput {
  readonly startTime: TimePoint | undefined;
  readonly endTime: TimePoint | undefined;
  readonly eventTypes: readonly string[];
  readonly serviceNames: readonly string[];
  readonly payloadContains: Readonly<Record<string, unknown>> | undefined;
}

/**
 * A validated filter. Instants are microseconds since the epoch (see
 * timePointToMicros for the rounding); lists are sorted and free of
 * duplicates, so that equal filters have equal fingerprints.
 */
export interface EventFilter {
  /** Inclusive lower bound. */
  readonly startUs: bigint | undefined;
  /** Exclusive upper bound. */
  readonly endUs: bigint | undefined;
  /** Any of these; empty = every type. */
  readonly eventTypes: readonly string[];
  /** Any of these; empty = every service. */
  readonly serviceNames: readonly string[];
  /** JSONB containment (@>) with this JSON object text (keys sorted); undefined = no payload condition. */
  readonly payloadContains: string | undefined;
}
