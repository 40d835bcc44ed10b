import { FollowBuffers, Follower } from '../../src/domain/live-tail/follower';
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

  test('when followers together hold past FOLLOW_BUFFERS_MAX_BYTES, then the one holding the most fails with RESOURCE_EXHAUSTED naming it, gives back what it held, and the others go on', async () => {
    const buffers = new FollowBuffers(100);
    const limits = { maxEvents: 1000, maxBytes: 80 };
    let done = 0;
    const slow = new Follower(limits, () => 10, () => done++, buffers);
    const reader = new Follower(limits, () => 10, () => done++, buffers);
    slow.push(1n, Promise.resolve([event('a'), event('b'), event('c'), event('d')]));
    reader.push(1n, Promise.resolve([event('a'), event('b'), event('c')]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(buffers.heldBytes).toBe(70);
    // The reader keeps up: what it takes goes back.
    expect(await reader.next(never)).toHaveLength(3);
    expect(buffers.heldBytes).toBe(40);
    slow.push(2n, Promise.resolve([event('e'), event('f'), event('g')]));
    reader.push(2n, Promise.resolve([event('e'), event('f'), event('g')]));
    await new Promise((resolve) => setImmediate(resolve));
    // 40 + 30 (slow) + 30 (reader) = 100, at the budget; one more event passes it.
    expect(buffers.heldBytes).toBe(100);
    expect(slow.failed).toBe(false);
    reader.push(3n, Promise.resolve([event('h')]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(slow.failed).toBe(true);
    expect(reader.failed).toBe(false);
    const error = await slow.next(never).catch((caught: unknown) => caught);
    expect((error as VaultError).code).toBe('RESOURCE_EXHAUSTED');
    expect((error as VaultError).message).toContain("this server's follow calls hold 110 bytes of new events their clients have not read (FOLLOW_BUFFERS_MAX_BYTES is 100), and this one the most (70)");
    expect(buffers.heldBytes).toBe(40);
    expect(done).toBe(1);
    expect((await reader.next(never)).map((e) => e.eventId)).toEqual(['e', 'f', 'g']);
    expect((await reader.next(never)).map((e) => e.eventId)).toEqual(['h']);
    expect(buffers.heldBytes).toBe(0);
    reader.close();
    expect(buffers.heldBytes).toBe(0);
  });

  test('when a follower fails or closes with events held, then the instance\'s total gives them all back once, whatever is released after', async () => {
    const buffers = new FollowBuffers(1e6);
    const follower = new Follower({ maxEvents: 1000, maxBytes: 1e6 }, () => 10, () => undefined, buffers);
    follower.push(1n, Promise.resolve([event('a'), event('b')]));
    follower.push(2n, Promise.resolve([event('c')]));
    await new Promise((resolve) => setImmediate(resolve));
    expect(buffers.heldBytes).toBe(30);
    follower.close();
    expect(buffers.heldBytes).toBe(0);
    follower.snapshot = parseSnapshot('10:10:');
    expect(buffers.heldBytes).toBe(0);
  });
});
