import { COPY_CHUNK_BYTES, CopyRowEncoder, encodeCopyChunks, escapeCopyField } from '../../src/storage/encode-copy-text';
import type { ValidEvent } from '../../src/domain/ingest/ingest-event';
import { random } from '../support/random-json';

/** What COPY's text format reads a field back as (PostgreSQL's rules for the escapes we emit). */
function decodeCopyField(field: string): string {
  return field.replace(/\\(.)/gs, (_, char: string) => ({ t: '\t', n: '\n', r: '\r' })[char] ?? char);
}

const event = (overrides: Partial<ValidEvent> & { json?: string } = {}): ValidEvent => {
  const { json = '{"a":1}', ...rest } = overrides;
  return {
    eventId: 'id-1',
    timestampUs: 1_714_564_800_123_456n,
    eventType: 'log',
    serviceName: 'svc',
    payloadJson: Buffer.from(json),
    payloadCopyEscapes: /[\\\t\n\r]/.test(json),
    ...rest,
  };
};

/** The rows COPY would read from encoded chunks, each split into its fields (still escaped). */
function rowsOf(chunks: readonly Buffer[]): string[][] {
  const text = Buffer.concat(chunks).toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((row) => row.split('\t'));
}

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

  test('when an event is encoded, then it is one row of six tab-separated fields (its group member first) ending in a newline, each reading back as it was', () => {
    const json = '{\n\t"k": "v\\\\n\\r", "s": "é\u{1F600}"\r\n}';
    const rows = rowsOf(encodeCopyChunks([[], [], [event({ eventId: 'a\\b', serviceName: 'multi\nline\té', json })]]));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.map(decodeCopyField)).toEqual(['3', 'a\\b', '2024-05-01T12:00:00.123456Z', 'log', 'multi\nline\té', json]);
  });

  test('when a payload needs no escaping, then its bytes are copied as they are', () => {
    const json = '{"k":"v","n":[1,2.5,-3e2],"u":"\u00e9"}';
    const [row] = rowsOf(encodeCopyChunks([[event({ json })]]));
    expect(row![5]).toBe(json);
  });

  test.each([
    [0n, '1970-01-01T00:00:00.000000Z'],
    [1n, '1970-01-01T00:00:00.000001Z'],
    [-1n, '1969-12-31T23:59:59.999999Z'],
    [-62_135_596_800_000_000n, '0001-01-01T00:00:00.000000Z'],
    [253_402_300_799_999_999n, '9999-12-31T23:59:59.999999Z'],
    [1_714_564_800_123_456n, '2024-05-01T12:00:00.123456Z'],
  ])('when the instant is %s microseconds, then it is written %s, also right after the same and the next second', (micros, text) => {
    const alone = (at: bigint): string => rowsOf(encodeCopyChunks([[event({ timestampUs: at })]]))[0]![2]!;
    expect(alone(micros)).toBe(text);
    // The cached text of a second is reused only within that second.
    const times = rowsOf(encodeCopyChunks([[micros, micros, micros + 1_000_000n, micros - 1n].map((timestampUs) => event({ timestampUs }))])).map((row) => row[2]);
    expect(times).toEqual([text, text, alone(micros + 1_000_000n), alone(micros - 1n)]);
  });

  test('when 20 000 random instants from year 0001 to 9999 are encoded, in random order and in runs within a day, then each is written as Date#toISOString writes it, with microseconds', () => {
    const next = random(99);
    const min = -62_135_596_800;
    const max = 253_402_300_799;
    const instants: bigint[] = [];
    for (let i = 0; i < 10_000; i++) {
      const second = min + Math.floor(next() * (max - min - 86_400));
      instants.push(BigInt(second) * 1_000_000n + BigInt(Math.floor(next() * 1_000_000)));
      // A neighbour in the same or the next day, as the rows of a batch are.
      instants.push(instants.at(-1)! + BigInt(Math.floor(next() * 86_400_000_000)));
    }
    const rows = rowsOf(encodeCopyChunks([instants.map((timestampUs) => event({ timestampUs }))]));
    rows.forEach((row, i) => {
      const micros = instants[i]!;
      const millis = Number(micros / 1000n) - (micros % 1000n < 0n ? 1 : 0);
      const fraction = String(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, '0');
      expect(row[2]).toBe(`${new Date(millis).toISOString().slice(0, 19)}.${fraction}Z`);
    });
  });

  test('when a batch is encoded, then rows are grouped into chunks of about the chunk size, in order, none lost', () => {
    const events = Array.from({ length: 1000 }, (_, i) => event({ eventId: `id-${i}`, json: JSON.stringify({ i, pad: 'x'.repeat(200) }) }));
    const chunks = encodeCopyChunks([events.slice(0, 400), events.slice(400)], 16 * 1024);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.length).toBeLessThan(20);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.length).toBeGreaterThanOrEqual(16 * 1024);
    const oneByOne = events.map((one, i) => {
      const encoder = new CopyRowEncoder();
      encoder.row(i < 400 ? 1 : 2, one);
      return Buffer.concat(encoder.finish()).toString('utf8');
    });
    expect(Buffer.concat(chunks).toString('utf8')).toBe(oneByOne.join(''));
    expect(encodeCopyChunks([])).toEqual([]);
  });

  test('when one row is larger than a chunk (a 1 MiB payload that needs escaping), then it is written whole, between the rows around it', () => {
    const big = `{"k":"${'\\n'.repeat(512 * 1024)}"}`;
    const rows = rowsOf(encodeCopyChunks([[event({ eventId: 'before' }), event({ eventId: 'big', json: big }), event({ eventId: 'after' })]]));
    expect(rows.map((row) => row[1])).toEqual(['before', 'big', 'after']);
    expect(decodeCopyField(rows[1]![5]!)).toBe(big);
    expect(big.length).toBeGreaterThan(COPY_CHUNK_BYTES);
  });
});
