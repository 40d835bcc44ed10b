import { floorDivide } from '../domain/query/time-point';

const MICROS_PER_MILLI = 1000n;

/**
 * Microseconds since the epoch as a timestamptz literal for a bound parameter
 * (`2024-05-01T12:00:00.123456Z`), exact to the microsecond. (A number would
 * go through a float on the PostgreSQL side and could round.)
 */
export function microsToSqlTimestamp(micros: bigint): string {
  const [millis, rest] = floorDivide(micros, MICROS_PER_MILLI);
  // Past 9999 (an end bound of 9999-12-31T23:59:59.9999995 rounds up to year 10000) toISOString
  // writes an expanded year, "+010000-...", which PostgreSQL refuses: write the digits alone.
  const iso = new Date(Number(millis)).toISOString().replace(/^\+0*/, '');
  return `${iso.slice(0, -1)}${rest.toString().padStart(3, '0')}Z`;
}

/**
 * A select-list expression giving a timestamptz column as microseconds since
 * the epoch, as text: exact (extract(epoch) is numeric), and parsed with
 * BigInt on our side, where pg's Date would drop the microseconds.
 */
export function microsColumn(expression: string, alias: string): string {
  return `(extract(epoch FROM ${expression}) * 1000000)::bigint::text AS ${alias}`;
}
