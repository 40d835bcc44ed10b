import { Metadata, status } from '@grpc/grpc-js';
import type { VaultEvent } from '../../clients/node/src';
import { resumedFollow, type FollowLoss } from '../../src/cli/remote/resumed-follow';

function event(eventId: string, iso: string): VaultEvent {
  return { eventId, timestamp: new Date(iso), eventType: 'log', serviceName: 's', payload: {}, payloadJson: '{}', receivedAt: undefined };
}

function grpcError(code: status, details: string): Error {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

/** A follow that yields `events`, then fails with `error` (or stays open when there is none: the test stops reading). */
async function* stream(events: VaultEvent[], error?: Error): AsyncGenerator<VaultEvent> {
  for (const item of events) yield item;
  if (error) throw error;
  await new Promise(() => undefined);
}

async function take(source: AsyncIterable<VaultEvent>, count: number): Promise<string[]> {
  const ids: string[] = [];
  for await (const item of source) {
    ids.push(`${item.eventId}@${item.timestamp.toISOString()}`);
    if (ids.length === count) break;
  }
  return ids;
}

describe('resumedFollow (the exact resume of a live tail, docs/api.md "Resuming a follow")', () => {
  test('when the stream is lost with UNAVAILABLE, then the same follow is opened again and the events it sends again are dropped by (timestamp, event_id), an old-timestamped newcomer included', async () => {
    const a = event('a', '2026-12-05T10:00:00.000Z');
    const b = event('b', '2026-12-05T10:00:01.000Z');
    const late = event('late', '2026-12-05T09:59:59.000Z');
    // The same id in another partition (day) is another event.
    const otherDay = event('a', '2026-12-04T10:00:00.000Z');
    const c = event('c', '2026-12-05T10:00:02.000Z');
    const attempts = [() => stream([a, b], grpcError(status.UNAVAILABLE, 'the server is shutting down')), () => stream([late, otherDay, a, b, c])];
    const losses: FollowLoss[] = [];
    const ids = await take(resumedFollow(() => attempts.shift()!(), { onLoss: (loss) => losses.push(loss) }), 5);
    expect(ids).toEqual(['a@2026-12-05T10:00:00.000Z', 'b@2026-12-05T10:00:01.000Z', 'late@2026-12-05T09:59:59.000Z', 'a@2026-12-04T10:00:00.000Z', 'c@2026-12-05T10:00:02.000Z']);
    expect(losses.map((loss) => [loss.attempt, (loss.error as { code: number }).code])).toEqual([[1, status.UNAVAILABLE]]);
  });

  test('when the stream fails with a status the contract does not retry, then the iteration ends with that error', async () => {
    const opened: number[] = [];
    const source = resumedFollow(() => {
      opened.push(opened.length);
      return stream([event('a', '2026-12-05T10:00:00.000Z')], grpcError(status.PERMISSION_DENIED, 'no'));
    });
    await expect(take(source, 10)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect(opened).toEqual([0]);
  });

  test('when the first follow fails before any event and reconnectFirst says no, then its error ends the iteration; after an event, the same failure reconnects', async () => {
    const refused = (): AsyncGenerator<VaultEvent> => stream([], grpcError(status.UNAVAILABLE, 'No connection established'));
    await expect(take(resumedFollow(refused, { reconnectFirst: () => false }), 1)).rejects.toMatchObject({ code: status.UNAVAILABLE });

    const attempts = [() => stream([event('a', '2026-12-05T10:00:00.000Z')], grpcError(status.UNAVAILABLE, 'dropped')), refused, () => stream([event('b', '2026-12-05T10:00:01.000Z')])];
    const ids = await take(resumedFollow(() => attempts.shift()!(), { reconnectFirst: () => false }), 2);
    expect(ids).toEqual(['a@2026-12-05T10:00:00.000Z', 'b@2026-12-05T10:00:01.000Z']);
  });

  test('when more keys were delivered than maxKeys, then the earlier half is forgotten, onForget names the instant after the newest forgotten, and a reconnection resumes from it without repeating a kept key', async () => {
    const at = (second: number): string => `2026-12-05T10:00:${String(second).padStart(2, '0')}.000Z`;
    // Delivered in commit order; 'old' carries an older timestamp than the events before it.
    const first = [event('a', at(1)), event('b', at(3)), event('old', at(0)), event('c', at(4)), event('d', at(2))];
    const opens: (Date | undefined)[] = [];
    const forgotten: [Date, number][] = [];
    const attempts = [
      () => stream(first, grpcError(status.UNAVAILABLE, 'dropped')),
      // What a follow from resumeFrom would send again: stored matches from 10:00:03.001, then a new one.
      () => stream([event('c', at(4)), event('e', at(5))]),
    ];
    const source = resumedFollow(
      (resumeFrom) => {
        opens.push(resumeFrom);
        return attempts.shift()!();
      },
      { maxKeys: 4, onForget: (resumeFrom, maxKeys) => forgotten.push([resumeFrom, maxKeys]) },
    );
    const ids = await take(source, 6);
    expect(ids).toEqual([`a@${at(1)}`, `b@${at(3)}`, `old@${at(0)}`, `c@${at(4)}`, `d@${at(2)}`, `e@${at(5)}`]);
    // At the fifth key, the first two (a, b) were forgotten, and with them 'old' and 'd' (at or before 10:00:03).
    expect(forgotten).toEqual([[new Date('2026-12-05T10:00:03.001Z'), 4]]);
    expect(opens).toEqual([undefined, new Date('2026-12-05T10:00:03.001Z')]);
  });
});
