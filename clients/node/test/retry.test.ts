import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Any } from '../src/gen/google/protobuf/any';
import { RetryInfo } from '../src/gen/google/rpc/error_details';
import { Status } from '../src/gen/google/rpc/status';
import { classify, retryDelayMs, uuidv7 } from '../src';

function serviceError(code: status, retryDelayMs?: number): ServiceError {
  const metadata = new Metadata();
  if (retryDelayMs !== undefined) {
    const retryInfo = RetryInfo.encode({ retryDelay: { seconds: Math.floor(retryDelayMs / 1000), nanos: (retryDelayMs % 1000) * 1e6 } }).finish();
    const details = Status.encode({ code, message: 'slow down', details: [Any.fromPartial({ typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value: Buffer.from(retryInfo) })] }).finish();
    metadata.set('grpc-status-details-bin', Buffer.from(details));
  }
  return Object.assign(new Error('failed'), { code, details: 'failed', metadata });
}

describe('the Node.js client retry rules (contract section 8)', () => {
  test.each([
    [status.UNAVAILABLE, undefined, true],
    [status.DEADLINE_EXCEEDED, undefined, true],
    [status.ABORTED, undefined, true],
    [status.RESOURCE_EXHAUSTED, 1500, true],
    [status.RESOURCE_EXHAUSTED, undefined, false],
    [status.INVALID_ARGUMENT, undefined, false],
    [status.UNAUTHENTICATED, undefined, false],
    [status.PERMISSION_DENIED, undefined, false],
    [status.FAILED_PRECONDITION, undefined, false],
    [status.UNIMPLEMENTED, undefined, false],
    [status.INTERNAL, undefined, false],
    [status.CANCELLED, undefined, false],
    [status.UNKNOWN, undefined, false],
  ])('when a call fails with code %s (RetryInfo %s ms), then retry is %s', (code, delay, retry) => {
    const decision = classify(serviceError(code, delay));
    expect(decision.retry).toBe(retry);
    if (decision.retry) expect(decision.retryInfoMs).toBe(delay);
  });

  test('when RetryInfo is present, then the wait is at least its delay and at most 10 % more', () => {
    expect(retryDelayMs(3, 1500, {}, () => 0)).toBe(1500);
    expect(retryDelayMs(3, 1500, {}, () => 0.999999)).toBeCloseTo(1650, 0);
  });

  test('when there is no RetryInfo, then the wait is drawn from [base/2, base] with base = min(max, initial * multiplier^(retry-1))', () => {
    const options = { initialBackoffMs: 100, maxBackoffMs: 1000, backoffMultiplier: 2 };
    expect(retryDelayMs(1, undefined, options, () => 0)).toBe(50);
    expect(retryDelayMs(1, undefined, options, () => 1)).toBe(100);
    expect(retryDelayMs(3, undefined, options, () => 1)).toBe(400);
    expect(retryDelayMs(10, undefined, options, () => 1)).toBe(1000);
    expect(retryDelayMs(10, undefined, options, () => 0)).toBe(500);
  });

  test('when many UUIDv7 are made in one millisecond, then they are valid, distinct and increasing', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(1_700_000_000_000));
    for (const id of ids) expect(id).toMatch(/^018bcfe5-68[0-9a-f]{2}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  test('when UUIDv7 are made in successive milliseconds, then each carries its own millisecond in its first 48 bits (every hex digit rewritten when it changes), version 7 and variant 10', () => {
    const start = 0x01ff_ffff_fffe; // the next two milliseconds change every one of the 12 digits
    for (const ms of [start, start + 1, start + 2, start + 3, start + 0x1_0000, start + 0x1_0001, 2 ** 48 - 1]) {
      const id = uuidv7(ms);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
    }
  });
});
