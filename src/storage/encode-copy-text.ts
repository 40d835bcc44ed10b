import { writeDecimal } from '../domain/ingest/decimal-digits';
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

/** Bytes of the ASCII characters a row is made of. */
const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const ZERO = 0x30;
const UPPER_Z = 0x5a;
const LOWER_N = 0x6e;
const LOWER_R = 0x72;
const LOWER_T = 0x74;
/** What follows the backslash of each byte COPY escapes; 0 for the rest. */
const ESCAPE_LETTER = new Uint8Array(256);
ESCAPE_LETTER[BACKSLASH] = BACKSLASH;
ESCAPE_LETTER[TAB] = LOWER_T;
ESCAPE_LETTER[NEWLINE] = LOWER_N;
ESCAPE_LETTER[0x0d] = LOWER_R;

/** "YYYY-MM-DDTHH:MM:SS" is 19 ASCII characters; ".ffffffZ" follows. */
const SECOND_TEXT_LENGTH = 19;
const DATE_TEXT_LENGTH = 10;
const SECONDS_PER_DAY = 86_400;
const UPPER_T = 0x54;
const COLON = 0x3a;
const HYPHEN = 0x2d;
/** A row's bytes besides its variable fields: member (up to 10 digits), five tabs, the timestamp (27), the newline. */
const ROW_FIXED_BYTES = 10 + 5 + SECOND_TEXT_LENGTH + 8 + 1;
/** The most UTF-8 bytes one UTF-16 unit of a string takes. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/** About this many bytes per COPY write: large enough that pg-copy-streams' per-write cost vanishes, small next to a batch. */
export const COPY_CHUNK_BYTES = 64 * 1024;

/**
 * Writes events as COPY text rows straight into buffers, payloads copied as
 * the UTF-8 bytes they arrived as, and timestamps by integer arithmetic.
 */
export class CopyRowEncoder {
  /** Events of a batch mostly share their day: its YYYY-MM-DD is kept from one row to the next. */
  private lastDay: number | undefined;
  private readonly lastDayText = new Uint8Array(DATE_TEXT_LENGTH);
  private readonly chunks: Buffer[] = [];
  private buffer: Buffer;
  private offset = 0;

  constructor(private readonly chunkBytes = COPY_CHUNK_BYTES) {
    this.buffer = Buffer.allocUnsafe(this.bufferBytes(0));
  }

  /**
   * Appends one event of group member `member` as a COPY text row, newline
   * included. The hot path of ingest: bytes are written one by one (short
   * ASCII fields), never through Buffer.write, whose per-call cost is larger
   * than these fields.
   */
  row(member: number, event: ValidEvent): void {
    const payload = event.payloadJson;
    const most = ROW_FIXED_BYTES + event.eventId.length * 2 + event.eventType.length + event.serviceName.length * MAX_UTF8_BYTES_PER_UNIT * 2 + payload.length * (event.payloadCopyEscapes ? 2 : 1);
    this.reserve(most);
    const buffer = this.buffer;
    let offset = writeDecimal(buffer, this.offset, member);
    buffer[offset++] = TAB;
    // event_id is printable ASCII: only a backslash needs escaping.
    offset = writeAscii(buffer, offset, event.eventId);
    buffer[offset++] = TAB;
    offset = this.writeTimestamp(offset, event.timestampUs);
    buffer[offset++] = TAB;
    // event_type ([a-z0-9_.:-]) never needs escaping.
    offset = writeAscii(buffer, offset, event.eventType);
    buffer[offset++] = TAB;
    offset = writeText(buffer, offset, event.serviceName);
    buffer[offset++] = TAB;
    if (event.payloadCopyEscapes) offset = writeEscaped(buffer, offset, payload);
    else {
      buffer.set(payload, offset);
      offset += payload.length;
    }
    buffer[offset++] = NEWLINE;
    this.offset = offset;
    if (offset >= this.chunkBytes) this.cut();
  }

  /** The rows so far as chunks of about the chunk size each (the last one shorter); the encoder is then empty. */
  finish(): Buffer[] {
    if (this.offset > 0) {
      this.chunks.push(this.buffer.subarray(0, this.offset));
      this.buffer = this.buffer.subarray(this.offset);
      this.offset = 0;
    }
    return this.chunks.splice(0);
  }

  /**
   * Room for `bytes` more in the current buffer. A chunk is cut once it
   * reaches the chunk size, and buffers hold a quarter more, so a row
   * usually fits whole in what is left; one that may not (a large payload)
   * moves the partial chunk into a buffer large enough for it.
   */
  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    const larger = Buffer.allocUnsafe(this.bufferBytes(this.offset + bytes));
    this.buffer.copy(larger, 0, 0, this.offset);
    this.buffer = larger;
  }

  private bufferBytes(needed: number): number {
    return Math.max(this.chunkBytes + Math.ceil(this.chunkBytes / 4), needed);
  }

  private cut(): void {
    this.chunks.push(this.buffer.subarray(0, this.offset));
    this.buffer = Buffer.allocUnsafe(this.bufferBytes(0));
    this.offset = 0;
  }

  /** An instant as ISO 8601 in UTC with microseconds (2024-05-01T12:00:00.123456Z) at `offset`; returns the offset past it. */
  private writeTimestamp(offset: number, micros: bigint): number {
    let second: number;
    let fraction: number;
    // Every instant from 1685 to 2255 is exact as a double: no BigInt arithmetic for those.
    const asNumber = Number(micros);
    if (Number.isSafeInteger(asNumber)) {
      second = Math.floor(asNumber / 1_000_000);
      fraction = asNumber - second * 1_000_000;
    } else {
      let wholeSeconds = micros / MICROS_PER_SECOND;
      let rest = micros % MICROS_PER_SECOND;
      if (rest < 0n) {
        wholeSeconds -= 1n;
        rest += MICROS_PER_SECOND;
      }
      second = Number(wholeSeconds);
      fraction = Number(rest);
    }
    const buffer = this.buffer;
    const day = Math.floor(second / SECONDS_PER_DAY);
    if (day !== this.lastDay) {
      this.lastDay = day;
      writeCivilDate(this.lastDayText, day);
    }
    const dayText = this.lastDayText;
    for (let i = 0; i < DATE_TEXT_LENGTH; i++) buffer[offset + i] = dayText[i]!;
    let timeOfDay = second - day * SECONDS_PER_DAY;
    // THH:MM:SS, written from the right.
    for (let at = offset + SECOND_TEXT_LENGTH - 1, field = 0; field < 3; field++) {
      const value = timeOfDay % 60;
      timeOfDay = Math.floor(timeOfDay / 60);
      buffer[at--] = ZERO + (value % 10);
      buffer[at--] = ZERO + Math.floor(value / 10);
      buffer[at--] = field === 2 ? UPPER_T : COLON;
    }
    offset += SECOND_TEXT_LENGTH;
    buffer[offset] = DOT;
    for (let digit = 6; digit >= 1; digit--) {
      buffer[offset + digit] = ZERO + (fraction % 10);
      fraction = Math.floor(fraction / 10);
    }
    offset += 7;
    buffer[offset++] = UPPER_Z;
    return offset;
  }
}

/**
 * YYYY-MM-DD of the day `day` days after 1970-01-01 (proleptic Gregorian,
 * years 0001 to 9999), by integer arithmetic (the days-to-civil algorithm
 * of H. Hinnant's date library), without a Date.
 */
function writeCivilDate(text: Uint8Array, day: number): void {
  const shifted = day + 719_468;
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const dayOfMonth = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  for (let i = 3, rest = year; i >= 0; i--, rest = Math.floor(rest / 10)) text[i] = ZERO + (rest % 10);
  text[4] = HYPHEN;
  text[5] = ZERO + Math.floor(month / 10);
  text[6] = ZERO + (month % 10);
  text[7] = HYPHEN;
  text[8] = ZERO + Math.floor(dayOfMonth / 10);
  text[9] = ZERO + (dayOfMonth % 10);
}

/** ASCII text, a backslash doubled (COPY's escape); returns the offset past it. */
function writeAscii(buffer: Buffer, offset: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === BACKSLASH) buffer[offset++] = BACKSLASH;
    buffer[offset++] = code;
  }
  return offset;
}

/** Any text as UTF-8 with COPY's escapes; returns the offset past it. Plain ASCII is written byte by byte, the rest through Buffer.write. */
function writeText(buffer: Buffer, offset: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80 || ESCAPE_LETTER[code] !== 0) return offset + buffer.write(escapeCopyField(text), offset, 'utf8');
  }
  for (let i = 0; i < text.length; i++) buffer[offset + i] = text.charCodeAt(i);
  return offset + text.length;
}

/** Bytes with COPY's escapes; returns the offset past them. */
function writeEscaped(buffer: Buffer, offset: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    const letter = ESCAPE_LETTER[byte]!;
    if (letter === 0) buffer[offset++] = byte;
    else {
      buffer[offset++] = BACKSLASH;
      buffer[offset++] = letter;
    }
  }
  return offset;
}

/**
 * The rows of a group's batches (member i's events carry member number i + 1)
 * as a few large chunks of about `chunkBytes` bytes each: pg-copy-streams is
 * fast with big writes and slow with one write per row (its issue #127).
 */
export function encodeCopyChunks(batches: readonly (readonly ValidEvent[])[], chunkBytes = COPY_CHUNK_BYTES): Buffer[] {
  const encoder = new CopyRowEncoder(chunkBytes);
  batches.forEach((events, index) => {
    for (const event of events) encoder.row(index + 1, event);
  });
  return encoder.finish();
}
