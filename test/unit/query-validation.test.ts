import { canonicalJson } from '../../src/domain/query/canonical-json';
import { statementBudget } from '../../src/domain/statement-budget';
import { durationToMicros, microsToTimePoint, timePointToMicros } from '../../src/domain/query/time-point';
import { validateEventFilter, type FilterLimits } from '../../src/domain/query/validate-event-filter';
import type { CallContext } from '../../src/domain/call-context';
import { VaultError } from '../../src/domain/vault-error';
import { microsToSqlTimestamp } from '../../src/storage/sql-timestamp';

const LIMITS: FilterLimits = { filterMaxValues: 3, payloadContainsMaxBytes: 64, payloadContainsMaxDepth: 3 };
const EMPTY = { startTime: undefined, endTime: undefined, eventTypes: [], serviceNames: [], payloadContains: undefined };

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof VaultError && error.code === 'INVALID_ARGUMENT') return error.fieldViolations[0]?.field;
    throw error;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('timePointToMicros and microsToTimePoint', () => {
  test('when nanos are not whole microseconds, then they round up (bounds keep their inclusive/exclusive meaning)', () => {
    expect(timePointToMicros({ seconds: 10, nanos: 0 }, 'f')).toBe(10_000_000n);
    expect(timePointToMicros({ seconds: 10, nanos: 1 }, 'f')).toBe(10_000_001n);
    expect(timePointToMicros({ seconds: 10, nanos: 1000 }, 'f')).toBe(10_000_001n);
    expect(timePointToMicros({ seconds: 10, nanos: 999_999_001 }, 'f')).toBe(11_000_000n);
  });

  test('when microseconds go back to a Timestamp, then it is exact, before the epoch too', () => {
    expect(microsToTimePoint(1_704_067_200_123_456n)).toEqual({ seconds: 1_704_067_200, nanos: 123_456_000 });
    expect(microsToTimePoint(-1n)).toEqual({ seconds: -1, nanos: 999_999_000 });
    expect(timePointToMicros(microsToTimePoint(-62_135_596_800_000_000n), 'f')).toBe(-62_135_596_800_000_000n);
  });

  test.each([
    [{ seconds: 1, nanos: -1 }],
    [{ seconds: 1, nanos: 1_000_000_000 }],
    [{ seconds: 253_402_300_800, nanos: 0 }],
    [{ seconds: -62_135_596_801, nanos: 0 }],
  ])('when a Timestamp is out of range (%j), then it is INVALID_ARGUMENT naming the field', (point) => {
    expect(fieldOf(() => timePointToMicros(point, 'filter.start_time'))).toBe('filter.start_time');
  });

  test('when a Duration is converted, then sub-microsecond parts are dropped and invalid ones refused', () => {
    expect(durationToMicros({ seconds: 1, nanos: 500_999 }, 'bucket')).toBe(1_000_500n);
    expect(durationToMicros({ seconds: -2, nanos: -5000 }, 'bucket')).toBe(-2_000_005n);
    expect(fieldOf(() => durationToMicros({ seconds: 1, nanos: -1 }, 'bucket'))).toBe('bucket');
  });
});

describe('microsToSqlTimestamp', () => {
  test('when formatting, then the literal keeps all six fractional digits, before the epoch too', () => {
    expect(microsToSqlTimestamp(1_704_067_200_123_456n)).toBe('2024-01-01T00:00:00.123456Z');
    expect(microsToSqlTimestamp(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(microsToSqlTimestamp(-62_135_596_800_000_000n)).toBe('0001-01-01T00:00:00.000000Z');
  });
});

describe('validateEventFilter', () => {
  test('when lists repeat or come unsorted, then they are deduplicated and sorted', () => {
    expect(validateEventFilter({ ...EMPTY, eventTypes: ['trace', 'log', 'trace'], serviceNames: ['b', 'a'] }, LIMITS)).toMatchObject({ eventTypes: ['log', 'trace'], serviceNames: ['a', 'b'] });
  });

  test('when payload_contains has keys in any order, then its text is canonical; an empty object is no condition', () => {
    expect(validateEventFilter({ ...EMPTY, payloadContains: { b: 1, a: { d: 2, c: 3 } } }, LIMITS).payloadContains).toBe('{"a":{"c":3,"d":2},"b":1}');
    expect(validateEventFilter({ ...EMPTY, payloadContains: {} }, LIMITS).payloadContains).toBeUndefined();
  });

  test('when the end equals the start, then it is accepted (an empty range); before it, refused', () => {
    expect(validateEventFilter({ ...EMPTY, startTime: { seconds: 5, nanos: 0 }, endTime: { seconds: 5, nanos: 0 } }, LIMITS)).toMatchObject({ startUs: 5_000_000n, endUs: 5_000_000n });
    expect(fieldOf(() => validateEventFilter({ ...EMPTY, startTime: { seconds: 5, nanos: 1 }, endTime: { seconds: 5, nanos: 0 } }, LIMITS))).toBe('filter.end_time');
  });

  test.each([
    ['too many event types', { eventTypes: ['a', 'b', 'c', 'd'] }, 'filter.event_types'],
    ['an empty service name', { serviceNames: [''] }, 'filter.service_names'],
    ['U+0000 in an event type', { eventTypes: ['a\u0000'] }, 'filter.event_types'],
    ['payload_contains over the size limit', { payloadContains: { text: 'x'.repeat(80) } }, 'filter.payload_contains'],
    ['payload_contains too deep', { payloadContains: { a: { b: { c: { d: 1 } } } } }, 'filter.payload_contains'],
    ['payload_contains too deep through lists', { payloadContains: { a: [[{ d: 1 }]] } }, 'filter.payload_contains'],
    ['U+0000 in a payload_contains key', { payloadContains: { 'a\u0000': 1 } }, 'filter.payload_contains'],
    ['U+0000 in a payload_contains string', { payloadContains: { a: ['\u0000'] } }, 'filter.payload_contains'],
    ['a non-finite number in payload_contains', { payloadContains: { a: Number.NaN } }, 'filter.payload_contains'],
  ])('when the filter has %s, then it is INVALID_ARGUMENT naming the field', (_name, input, field) => {
    expect(fieldOf(() => validateEventFilter({ ...EMPTY, ...input }, LIMITS))).toBe(field);
  });

  test('when payload_contains is exactly at the depth limit, then it is accepted', () => {
    expect(validateEventFilter({ ...EMPTY, payloadContains: { a: { b: { c: 1 } } } }, LIMITS).payloadContains).toBe('{"a":{"b":{"c":1}}}');
  });
});

describe('canonicalJson', () => {
  test('when values nest, then keys sort at every level and lists keep their order', () => {
    expect(canonicalJson({ z: [3, { y: 1, x: 2 }], a: null, s: 'é"' })).toBe('{"a":null,"s":"é\\"","z":[3,{"x":2,"y":1}]}');
  });
});

describe('statementBudget', () => {
  const context = (deadline: number | undefined, signal = new AbortController().signal): CallContext =>
    ({ requestId: 'r', method: 'm', logger: undefined as never, deadline, signal, peer: '127.0.0.1:1' }) as CallContext;

  test('when the call has no deadline, then the configured timeout applies', () => {
    expect(statementBudget(context(undefined), 30_000, 1000).timeoutMs).toBe(30_000);
  });

  test('when the deadline is nearer than the configured timeout, then what is left of it applies', () => {
    expect(statementBudget(context(1750), 30_000, 1000).timeoutMs).toBe(750);
    expect(statementBudget(context(100_000), 30_000, 1000).timeoutMs).toBe(30_000);
  });

  test('when the deadline has passed, then it is DEADLINE_EXCEEDED before any query', () => {
    expect(() => statementBudget(context(1000), 30_000, 1000)).toThrow(expect.objectContaining({ code: 'DEADLINE_EXCEEDED' }));
  });

  test('when the call was cancelled, then its reason is thrown', () => {
    const controller = new AbortController();
    const reason = new VaultError('CANCELLED', 'gone');
    controller.abort(reason);
    expect(() => statementBudget(context(undefined, controller.signal), 30_000, 0)).toThrow(reason);
  });
});
