import { invalidArgument } from '../vault-error';

/**
 * A point in time as protobuf carries it (google.protobuf.Timestamp), or a
 * span (google.protobuf.Duration): whole seconds and nanoseconds.
 */
export interface TimePoint {
  readonly seconds: number;
  readonly nanos: number;
}

/** The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;
const MICROS_PER_SECOND = 1_000_000n;

/**
 * A Timestamp as microseconds since the epoch: PostgreSQL keeps microseconds,
 * so this is the precision of every stored instant.
 *
 * Nanoseconds are rounded UP to the microsecond. For a bound compared with
 * stored microsecond values this is exact: a stored t satisfies
 * `t * 1000 >= bound` (or `< bound`) exactly when `t >= ceil(bound / 1000)`
 * (or `<`), so "start inclusive, end exclusive" keeps its meaning.
 */
export function timePointToMicros(point: TimePoint, field: string): bigint {
  if (!Number.isSafeInteger(point.seconds) || point.seconds < MIN_SECONDS || point.seconds > MAX_SECONDS) {
    throw invalidArgument(field, 'seconds must be within 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z');
  }
  if (!Number.isInteger(point.nanos) || point.nanos < 0 || point.nanos > 999_999_999) {
    throw invalidArgument(field, 'nanos must be between 0 and 999999999');
  }
  return BigInt(point.seconds) * MICROS_PER_SECOND + BigInt(Math.ceil(point.nanos / 1000));
}

/** `value` divided by `divisor` rounded down, and the remainder (never negative): instants before 1970 too. */
export function floorDivide(value: bigint, divisor: bigint): [bigint, bigint] {
  const quotient = value / divisor;
  const rest = value % divisor;
  return rest < 0n ? [quotient - 1n, rest + divisor] : [quotient, rest];
}

/** Microseconds since the epoch as a Timestamp (exact: every microsecond is a whole number of nanoseconds). */
export function microsToTimePoint(micros: bigint): TimePoint {
  const [seconds, rest] = floorDivide(micros, MICROS_PER_SECOND);
  return { seconds: Number(seconds), nanos: Number(rest) * 1000 };
}

/** The range google.protobuf.Duration allows: about 10 000 years either way. */
const MAX_DURATION_SECONDS = 315_576_000_000;

/**
 * A Duration as whole microseconds (finer parts are dropped: PostgreSQL
 * intervals hold microseconds). Throws INVALID_ARGUMENT naming `field` for a
 * Duration that protobuf itself calls invalid (mixed signs, nanos out of
 * range, seconds beyond +-315576000000), which also keeps SQL interval
 * arithmetic from overflowing.
 */
export function durationToMicros(duration: TimePoint, field: string): bigint {
  const { seconds, nanos } = duration;
  if (
    !Number.isSafeInteger(seconds) ||
    Math.abs(seconds) > MAX_DURATION_SECONDS ||
    !Number.isInteger(nanos) ||
    Math.abs(nanos) > 999_999_999 ||
    (seconds > 0 && nanos < 0) ||
    (seconds < 0 && nanos > 0)
  ) {
    throw invalidArgument(field, 'is not a valid google.protobuf.Duration');
  }
  return BigInt(seconds) * MICROS_PER_SECOND + BigInt(Math.trunc(nanos / 1000));
}
