import { CopyRowEncoder, encodeCopyChunks, escapeCopyField } from '../../src/storage/encode-copy-text';
import type { ValidEvent } from '../../src/domain/ingest/ingest-event';

/** What COPY's text format reads a field back as (PostgreSQL's rules for the escapes we emit). */
function decodeCopyField(field: string): string {
  return field.replace(/\\(.)/gs, (_, char: string) => ({ t: '\t', n: '\n', r: '\r' })[char] ?? char);
}

const event = (overrides: Partial<ValidEvent> = {}): ValidEvent => ({
  eventId: 'id-1',
  timestampUs: 1_714_564_800_123_456n,
  eventType: 'log',
  serviceName: 'svc',
  payloadJson: '{"a":1}',
  ...overrides,
});

describe('COPY text encoding', () => {
  test.each([
    ['plain', 'plain'],
    ['tab\there', 'tab\\there'],
    ['new\nline', 'new\\nline'],
    ['carriage\rreturn', 'carriage\\rreturn'],
    ['back\\slash', 'back\\\\slash'],
    ['\\N', '\\\\N'],
    ['\\.', '\\\\.'],
    ['"quotes" and \'apostrophes\'', '"quotes" and \'apostrophes\''],
    ['\u0001\u001f\u007f\u00e9\u{1F600}', '\u0001\u001f\u007f\u00e9\u{1F600}'],
  ])('when a field is %j, then it is encoded as %j', (raw, encoded) => {
    expect(escapeCopyField(raw)).toBe(encoded);
    expect(decodeCopyField(escapeCopyField(raw))).toBe(raw);
  });

  test('when any string of the first 512 code points is encoded, then it never contains a raw tab, newline or carriage return and decodes back', () => {
    const all = Array.from({ length: 512 }, (_, code) => String.fromCharCode(code)).filter((char) => char !== '\0').join('');
    const encoded = escapeCopyField(all);
    expect(encoded).not.toMatch(/[\t\n\r]/);
    expect(decodeCopyField(encoded)).toBe(all);
  });

  test('when an event is encoded, then it is one row of six tab-separated fields (its group member first) ending in a newline', () => {
    const row = new CopyRowEncoder().row(3, event({ eventId: 'a\\b', serviceName: 'multi\nline', payloadJson: '{\n\t"k": "v\\\\n"\n}' }));
    expect(row.endsWith('\n')).toBe(true);
    const fields = row.slice(0, -1).split('\t');
    expect(fields).toHaveLength(6);
    expect(fields.map(decodeCopyField)).toEqual(['3', 'a\\b', '2024-05-01T12:00:00.123456Z', 'log', 'multi\nline', '{\n\t"k": "v\\\\n"\n}']);
  });

  test.each([
    [0n, '1970-01-01T00:00:00.000000Z'],
    [1n, '1970-01-01T00:00:00.000001Z'],
    [-1n, '1969-12-31T23:59:59.999999Z'],
    [-62_135_596_800_000_000n, '0001-01-01T00:00:00.000000Z'],
    [253_402_300_799_999_999n, '9999-12-31T23:59:59.999999Z'],
    [1_714_564_800_123_456n, '2024-05-01T12:00:00.123456Z'],
  ])('when the instant is %s microseconds, then it is written %s', (micros, text) => {
    const encoder = new CopyRowEncoder();
    expect(encoder.timestamp(micros)).toBe(text);
    // The cached second is reused only for the same second.
    expect(encoder.timestamp(micros)).toBe(text);
    expect(encoder.timestamp(micros + 1_000_000n)).toBe(new CopyRowEncoder().timestamp(micros + 1_000_000n));
  });

  test('when a batch is encoded, then rows are grouped into chunks of about the chunk size, in order, none lost', () => {
    const events = Array.from({ length: 1000 }, (_, i) => event({ eventId: `id-${i}`, payloadJson: JSON.stringify({ i, pad: 'x'.repeat(200) }) }));
    const chunks = encodeCopyChunks([events.slice(0, 400), events.slice(400)], 16 * 1024);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.length).toBeLessThan(20);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBeGreaterThanOrEqual(16 * 1024);
    const encoder = new CopyRowEncoder();
    expect(chunks.join('')).toBe(events.map((one, i) => encoder.row(i < 400 ? 1 : 2, one)).join(''));
    expect(encodeCopyChunks([])).toEqual([]);
  });
});
