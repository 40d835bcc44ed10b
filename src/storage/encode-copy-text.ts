import type { ValidEvent } from '../domain/ingest/ingest-event';

/**
 * COPY's text format: columns split by tab, rows ended by newline, and a
 * backslash starting an escape. So exactly these four characters are escaped
 * in every field; everything else (quotes, other control characters, any
 * Unicode) goes through as UTF-8. U+0000 cannot be sent at all: validation
 * rejects it before it gets here.
 */
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPABLE = /[\\\t\n\r]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

const MICROS_PER_SECOND = 1_000_000n;

/** One field of a COPY text row. */
export function escapeCopyField(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPABLE, (char) => ESCAPES[char]!) : value;
}

/** The columns a row carries, in order (the staging table's COPY column list). */
export const COPY_COLUMNS = ['member', 'event_id', 'ts', 'event_type', 'service_name', 'payload'] as const;

/**
 * Writes events as COPY text rows. Events of a batch often share their
 * second, so the ISO text of the last second is kept from one row to the next.
 */
export class CopyRowEncoder {
  private lastSecond: bigint | undefined;
  private lastSecondText = '';

  /** An instant as ISO 8601 in UTC with microseconds, e.g. 2024-05-01T12:00:00.123456Z. */
  timestamp(micros: bigint): string {
    let second = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    if (fraction < 0n) {
      second -= 1n;
      fraction += MICROS_PER_SECOND;
    }
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      this.lastSecondText = new Date(Number(second) * 1000).toISOString().slice(0, 19);
    }
    return `${this.lastSecondText}.${fraction.toString().padStart(6, '0')}Z`;
  }

  /** One event of group member `member` as a COPY text row, newline included. */
  row(member: number, event: ValidEvent): string {
    // event_type ([a-z0-9_.:-]) and the ISO timestamp never need escaping.
    return `${member}\t${escapeCopyField(event.eventId)}\t${this.timestamp(event.timestampUs)}\t${event.eventType}\t${escapeCopyField(event.serviceName)}\t${escapeCopyField(event.payloadJson)}\n`;
  }
}

/** About this many characters per COPY write: large enough that pg-copy-streams' per-write cost vanishes, small next to a batch. */
export const COPY_CHUNK_CHARS = 64 * 1024;

/**
 * The rows of a group's batches (member i's events carry member number i + 1)
 * as a few large chunks of about `chunkChars` characters each:
 * pg-copy-streams is fast with big writes and slow with one write per row
 * (its issue #127).
 */
export function encodeCopyChunks(batches: readonly (readonly ValidEvent[])[], chunkChars = COPY_CHUNK_CHARS): string[] {
  const encoder = new CopyRowEncoder();
  const chunks: string[] = [];
  let rows: string[] = [];
  let length = 0;
  batches.forEach((events, index) => {
    for (const event of events) {
      const row = encoder.row(index + 1, event);
      rows.push(row);
      length += row.length;
      if (length >= chunkChars) {
        chunks.push(rows.join(''));
        rows = [];
        length = 0;
      }
    }
  });
  if (rows.length > 0) chunks.push(rows.join(''));
  return chunks;
}
