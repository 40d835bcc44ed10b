import { RetentionPolicy } from '../../src/domain/retention/retention-policy';
import { missingRanges, partitionName } from '../../src/storage/event-partitions';

const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);

describe('RetentionPolicy', () => {
  test('when a tenant has its own retention, then its cutoff is now minus it; without one, RETENTION; with neither, none', () => {
    const policy = new RetentionPolicy(30 * DAY_MS, () => NOW);
    expect(policy.cutoffUs({ retentionMs: DAY_MS })).toBe(BigInt(NOW - DAY_MS) * 1000n);
    expect(policy.cutoffUs({ retentionMs: undefined })).toBe(BigInt(NOW - 30 * DAY_MS) * 1000n);
    expect(new RetentionPolicy(undefined, () => NOW).cutoffUs({ retentionMs: undefined })).toBeUndefined();
  });

  test('when the longest retention is asked, then a tenant keeping forever means none, and tenants without one count with RETENTION', () => {
    expect(new RetentionPolicy(undefined).longestMs([{ retentionMs: DAY_MS }, { retentionMs: undefined }])).toBeUndefined();
    expect(new RetentionPolicy(7 * DAY_MS).longestMs([{ retentionMs: DAY_MS }, { retentionMs: undefined }])).toBe(7 * DAY_MS);
    expect(new RetentionPolicy(7 * DAY_MS).longestMs([{ retentionMs: 90 * DAY_MS }, { retentionMs: undefined }])).toBe(90 * DAY_MS);
    expect(new RetentionPolicy(undefined).longestMs([{ retentionMs: 2 * DAY_MS }])).toBe(2 * DAY_MS);
    expect(new RetentionPolicy(undefined).longestMs([])).toBeUndefined();
  });

  test('when an event is past retention, then the rejection reason names the retention', () => {
    expect(new RetentionPolicy(undefined).rejection({ retentionMs: 30 * DAY_MS })).toBe("timestamp is past this tenant's retention (30d): events older than that are not stored");
  });
});

describe('partition ranges', () => {
  test('when partitions stop below the horizon, then the missing ranges continue from the top, cut at multiples of the interval', () => {
    const top = Date.UTC(2026, 11, 6);
    const ranges = missingRanges([{ name: 'events_before', lowerMs: undefined, upperMs: top, detachPending: false }], top + 2 * DAY_MS + 1, DAY_MS);
    expect(ranges).toEqual([
      { lowerMs: top, upperMs: top + DAY_MS },
      { lowerMs: top + DAY_MS, upperMs: top + 2 * DAY_MS },
      { lowerMs: top + 2 * DAY_MS, upperMs: top + 3 * DAY_MS },
    ]);
    expect(missingRanges([{ name: 'events_before', lowerMs: undefined, upperMs: top, detachPending: false }], top, DAY_MS)).toEqual([]);
  });

  test('when a range starts at a UTC midnight or within a day, then its partition name says so', () => {
    expect(partitionName(Date.UTC(2026, 11, 6))).toBe('events_p20261206');
    expect(partitionName(Date.UTC(2026, 11, 6, 6))).toBe('events_p20261206_0600');
  });
});
