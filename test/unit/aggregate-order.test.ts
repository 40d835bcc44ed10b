import { compareBytes, inResponseOrder, type AggregateRowData } from '../../src/storage/event-query-repository';
import { mulberry32 } from '../support/random-json';

/** Aggregate rows are returned in UTF-8 byte order of type and service (the "C" collation's order). */
describe('compareBytes', () => {
  const samples = ['', 'a', 'ab', 'b', 'service-01', 'service-1', 'Z', '\u00e9', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\ud800\udc00', '\ud83d\ude00', '\udbff\udfff', 'a\ud83d\ude00', 'a\uffff'];

  test('when any two valid strings are compared, then the order is the order of their UTF-8 bytes', () => {
    for (const a of samples) {
      for (const b of samples) {
        expect([a, b, Math.sign(compareBytes(a, b))]).toEqual([a, b, Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))]);
      }
    }
  });

  test('when a string is undefined, then it sorts as the empty string', () => {
    expect(compareBytes(undefined, undefined)).toBe(0);
    expect(Math.sign(compareBytes(undefined, 'a'))).toBe(-1);
    expect(Math.sign(compareBytes('a', undefined))).toBe(1);
  });
});

describe('inResponseOrder', () => {
  const names = ['a', 'ab', 'b', 'Z', 'service-01', 'service-1', '\u00e9', '\ue000', '\uffff', '\ud83d\ude00', 'a\ud83d\ude00', 'a\uffff'];
  // Around zero, before the epoch, and past 2^53 microseconds (where a Number would round).
  const buckets = ['-62135596800000000', '-3600000000', '0', '3600000000', '1767225600000000', '9007199254740993', '9007199254740995', '253402297200000000'];
  const bytes = (value: string | undefined): Buffer => Buffer.from(value ?? '', 'utf8');

  /** The reference: the rows compared with each other, bucket as BigInt, names as UTF-8 bytes. */
  function reference(rows: readonly AggregateRowData[]): AggregateRowData[] {
    return [...rows].sort((a, b) => {
      const [x, y] = [BigInt(a.bucket_start_us ?? 0), BigInt(b.bucket_start_us ?? 0)];
      return (x === y ? 0 : x < y ? -1 : 1) || Buffer.compare(bytes(a.event_type), bytes(b.event_type)) || Buffer.compare(bytes(a.service_name), bytes(b.service_name));
    });
  }

  test.each([
    ['bucket, type and service', { bucket: true, type: true, service: true }],
    ['bucket alone', { bucket: true, type: false, service: false }],
    ['type and service, no bucket', { bucket: false, type: true, service: true }],
    ['service alone', { bucket: false, type: false, service: true }],
  ])('when groups by %s come in random order, then they come back in bucket, type, service order, each count with its group', (_name, columns) => {
    const random = mulberry32(16);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const groups = new Map<string, AggregateRowData>();
    for (let i = 0; i < 400; i++) {
      const row: AggregateRowData = {
        ...(columns.bucket ? { bucket_start_us: pick(buckets) } : {}),
        ...(columns.type ? { event_type: pick(names) } : {}),
        ...(columns.service ? { service_name: pick(names) } : {}),
        matched: 1 + Math.floor(random() * 1000),
      };
      groups.set(`${row.bucket_start_us}|${row.event_type}|${row.service_name}`, row);
    }
    const rows = [...groups.values()];
    const expected = reference(rows).map((row) => ({
      eventType: row.event_type,
      serviceName: row.service_name,
      bucketStartUs: row.bucket_start_us === undefined ? undefined : BigInt(row.bucket_start_us),
      count: row.matched,
    }));
    expect(rows.length).toBeGreaterThan(1);
    expect(inResponseOrder(rows)).toEqual(expected);
  });

  test('when there are no rows, then there are none in order', () => {
    expect(inResponseOrder([])).toEqual([]);
  });
});
