import { Follower } from '../../src/domain/live-tail/follower';
import type { StoredEvent } from '../../src/domain/query/event-reader';
import { VaultError } from '../../src/domain/vault-error';
import { parseNotice } from '../../src/storage/live-tail-listener';
import { parseSnapshot } from '../../src/storage/live-tail-repository';

const event = (eventId: string): StoredEvent => ({
  eventId,
  timestampUs: 1n,
  eventType: 'log',
  serviceName: 's',
  payload: {},
  payloadJson: undefined,
  unservablePayloadBytes: undefined,
  receivedAtUs: 1n,
});
const never = new AbortController().signal;

describe('live tail follower queue', () => {
  test('when a snapshot is "10:20:12,15", then it includes transactions below 10 and those below 20 not in progress, and nothing from 20', () => {
    const snapshot = parseSnapshot('10:20:12,15');
    expect([9n, 10n, 11n, 13n, 19n].map((xid) => snapshot.includes(xid))).toEqual([true, true, true, true, true]);
    expect([12n, 15n, 20n, 21n].map((xid) => snapshot.includes(xid))).toEqual([false, false, false, false]);
  });

  test('when a notice payload is read, then its xid, tenant and keys come back exactly (timestamps past 2^53 included)', () => {
    expect(parseNotice('{"x":"123","t":"t-1","k":[["253402300799999999","a\\"b"]]}')).toEqual({ xid: 123n, tenantId: 't-1', keys: [{ timestampUs: 253402300799999999n, eventId: 'a"b' }] });
    expect(parseNotice('not json')).toBeUndefined();
  });

  test('when reads resolve out of order, then next() gives them in notice order, and skips transactions the snapshot included', async () => {
    const follower = new Follower({ maxEvents: 100, maxBytes: 1e6 }, () => 10, () => undefined);
    let resolveFirst!: (events: StoredEvent[]) => void;
    follower.push(5n, new Promise((resolve) => (resolveFirst = resolve)));
    follower.push(30n, Promise.resolve([event('included')]));
    follower.push(40n, Promise.resolve([event('second')]));
    follower.snapshot = parseSnapshot('31:41:40');
    const first = follower.next(never);
    resolveFirst([event('never-read')]);
    // 5 is below xmin and 30 below it too: both were in the stored part; 40 was in progress.
    expect((await first).map((e) => e.eventId)).toEqual(['second']);
  });

  test('when events wait past FOLLOW_BUFFER_MAX_EVENTS, then the follower fails with RESOURCE_EXHAUSTED naming the limit, and holds nothing more', async () => {
    let done = 0;
    const follower = new Follower({ maxEvents: 5, maxBytes: 1e6 }, () => 10, () => done++);
    follower.push(1n, Promise.resolve([event('a'), event('b'), event('c')]));
    follower.push(2n, Promise.resolve([event('d'), event('e'), event('f')]));
    await new Promise((resolve) => setImmediate(resolve));
    const error = await follower.next(never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(VaultError);
    expect((error as VaultError).code).toBe('RESOURCE_EXHAUSTED');
    expect((error as VaultError).message).toMatch(/FOLLOW_BUFFER_MAX_EVENTS is 5/);
    expect(follower.held).toEqual({ events: 0, bytes: 0 });
    expect(done).toBe(1);
  });
});
