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

/** One field of a COPY text row. */
export function escapeCopyField(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPABLE, (char) => ESCAPES[char]!) : value;
}

/** The columns a row carries, in order (the staging table's COPY column list). */
export const COPY_COLUMNS = ['event_id', 'ts', 'event_type', 'service_name', 'payload'] as const;

/** One event as a COPY text row, newline included. */
export function encodeCopyRow(event: ValidEvent): string {
  // event_type ([a-z0-9_.:-]) and the ISO timestamp never need escaping.
  return `${escapeCopyField(event.eventId)}\t${event.timestamp}\t${event.eventType}\t${escapeCopyField(event.serviceName)}\t${escapeCopyField(event.payloadJson)}\n`;
}

/**
 * The rows of a batch as a few large chunks of about `chunkChars` characters
 * each: pg-copy-streams is fast with big writes and slow with one write per
 * row (its issue #127).
 */
export function encodeCopyChunks(events: readonly ValidEvent[], chunkChars = 64 * 1024): string[] {
  const chunks: string[] = [];
  let rows: string[] = [];
  let length = 0;
  for (const event of events) {
    const row = encodeCopyRow(event);
    rows.push(row);
    length += row.length;
    if (length >= chunkChars) {
      chunks.push(rows.join(''));
      rows = [];
      length = 0;
    }
  }
  if (rows.length > 0) chunks.push(rows.join(''));
  return chunks;
}
