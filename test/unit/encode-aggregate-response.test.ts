import { AggregateResponse } from '../../src/gen/telemetry/v1/query_service';
import type { AggregateCount } from '../../src/domain/query/event-reader';
import { microsToTimePoint } from '../../src/domain/query/time-point';
import { serializeAggregateCounts } from '../../src/transport/grpc/wire/encode-aggregate-response';
import { mulberry32 } from '../support/random-json';

/** What the handler wrote before: AggregateRow objects through the generated codec. */
function generated(counts: readonly AggregateCount[]): Buffer {
  const rows = counts.map((count) => ({
    eventType: count.eventType ?? '',
    serviceName: count.serviceName ?? '',
    bucketStart: count.bucketStartUs === undefined ? undefined : microsToTimePoint(count.bucketStartUs),
    count: count.count,
  }));
  return Buffer.from(AggregateResponse.encode({ rows }).finish());
}

describe('serializeAggregateCounts', () => {
  const names = [undefined, '', 'a', 'log', '\u00e9-type', '\ud83d\ude00', 'x'.repeat(200)];
  // The first Timestamp, before the epoch with and without a fraction, the epoch, now, sub-second, the last Timestamp.
  const buckets = [undefined, -62_135_596_800_000_000n, -3_600_000_000n, -1_500_000n, 0n, 1_767_225_600_000_000n, 9_000_500_000n, 253_402_300_799_999_999n];
  const counts = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 53 - 1];

  test('when counts of every shape are serialized, then the bytes are the generated codec\'s, and decode to the same rows', () => {
    const random = mulberry32(16);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    for (let round = 0; round < 200; round++) {
      const rows: AggregateCount[] = Array.from({ length: Math.floor(random() * 20) }, () => ({ eventType: pick(names), serviceName: pick(names), bucketStartUs: pick(buckets), count: pick(counts) }));
      const bytes = serializeAggregateCounts({ counts: rows });
      expect(bytes.toString('hex')).toEqual(generated(rows).toString('hex'));
      expect(AggregateResponse.decode(bytes)).toEqual(AggregateResponse.decode(generated(rows)));
    }
  });

  test('when there are no counts, then the response is empty', () => {
    expect(serializeAggregateCounts({ counts: [] }).length).toBe(0);
  });
});
