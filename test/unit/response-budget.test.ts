import type { KeysetPosition, Page, StoredEvent } from '../../src/domain/query/event-reader';
import type { ResponseSizing } from '../../src/domain/query/fit-response';
import { streamPages, type HeldBytes } from '../../src/domain/query/stream-pages';
import { VaultError } from '../../src/domain/vault-error';
import { ResponseBudget } from '../../src/transport/response-budget';

/** A budget on a clock the test moves; `evicted` lists which holds were ended, by name, with the reason. */
function budgetOf(maxBytes: number) {
  let now = 0;
  const budget = new ResponseBudget(maxBytes, () => now);
  const evicted: { name: string; reason: VaultError }[] = [];
  return {
    budget,
    evicted,
    tick: (ms: number) => (now += ms),
    open: (name: string) => budget.open((reason) => evicted.push({ name, reason })),
  };
}

describe('ResponseBudget: which call goes when responses held for clients pass GRPC_RESPONSE_BUDGET', () => {
  test('when holds stay within the budget, then none is ended and the bytes are counted until given back', () => {
    const { budget, evicted, open } = budgetOf(1000);
    const a = open('a');
    const b = open('b');
    a.take(600);
    b.take(400);
    expect(budget.heldBytes).toBe(1000);
    a.give(600);
    b.give(100);
    expect(budget.heldBytes).toBe(300);
    expect(evicted).toEqual([]);
  });

  test('when a take passes the budget, then the hold whose client has gone longest without taking anything is ended with RESOURCE_EXHAUSTED naming GRPC_RESPONSE_BUDGET, and its bytes go back', () => {
    const { budget, evicted, open, tick } = budgetOf(1000);
    const oldest = open('oldest');
    oldest.take(400);
    tick(10);
    const middle = open('middle');
    middle.take(400);
    tick(10);
    const newest = open('newest');
    newest.take(400);
    expect(evicted.map((e) => e.name)).toEqual(['oldest']);
    expect(evicted[0]!.reason.code).toBe('RESOURCE_EXHAUSTED');
    expect(evicted[0]!.reason.message).toContain('for 20 ms');
    expect(evicted[0]!.reason.message).toContain('(GRPC_RESPONSE_BUDGET is 1000)');
    expect(budget.heldBytes).toBe(800);
  });

  test('when the oldest client takes something, then it counts as reading and the next stalest goes instead; the taker itself may go when it is the stalest', () => {
    const { evicted, open, tick } = budgetOf(1000);
    const reader = open('reader');
    reader.take(500);
    tick(10);
    const stalled = open('stalled');
    stalled.take(400);
    tick(10);
    reader.give(100); // progress: its clock restarts now, after stalled's
    tick(10);
    const newcomer = open('newcomer');
    newcomer.take(300);
    expect(evicted.map((e) => e.name)).toEqual(['stalled']);
    // A hold that passes the budget by itself while it is the stalest is ended too.
    tick(10);
    newcomer.take(700);
    expect(evicted.map((e) => e.name)).toEqual(['stalled', 'reader']);
  });

  test('when one take needs several holds gone, then they go stalest first until the rest fits, each told once', () => {
    const { budget, evicted, open, tick } = budgetOf(1000);
    const holds = ['a', 'b', 'c'].map((name) => {
      const hold = open(name);
      hold.take(300);
      tick(5);
      return hold;
    });
    open('big').take(800);
    expect(evicted.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(budget.heldBytes).toBe(800);
    // Ended holds count nothing more, and are not told again.
    holds[0]!.take(10_000);
    holds[0]!.give(300);
    expect(budget.heldBytes).toBe(800);
    expect(evicted).toHaveLength(3);
  });

  test('when a call closes, then what it held goes back and it is never chosen again', () => {
    const { budget, evicted, open, tick } = budgetOf(1000);
    const closed = open('closed');
    closed.take(900);
    closed.close();
    expect(budget.heldBytes).toBe(0);
    tick(10);
    open('other').take(1000);
    closed.take(100);
    expect(budget.heldBytes).toBe(1000);
    expect(evicted).toEqual([]);
  });
});

/** Events of `bytes` each in responses, with increasing timestamps. */
function eventsOf(count: number): StoredEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    eventId: `e${i}`,
    timestampUs: BigInt(i),
    eventType: 't',
    serviceName: 's',
    payload: undefined,
    payloadJson: '{}',
    unservablePayloadBytes: undefined,
    receivedAtUs: 0n,
  }));
}

/** A HeldBytes that records its balance and its peak, and fails on giving back more than was taken. */
function heldLedger() {
  const ledger = { balance: 0, peak: 0 };
  const held: HeldBytes = {
    take(bytes) {
      ledger.balance += bytes;
      ledger.peak = Math.max(ledger.peak, ledger.balance);
    },
    give(bytes) {
      ledger.balance -= bytes;
      if (ledger.balance < 0) throw new Error(`gave back ${-ledger.balance} bytes more than taken`);
    },
  };
  return { ledger, held };
}

describe('streamPages: reads sized to a message, and what they hold', () => {
  const EVENT_BYTES = 1000;
  /** Messages of 10 events; the largest possible event is 4 times these. */
  const sizing: ResponseSizing = { maxBytes: 10 * EVENT_BYTES + 16, eventBytes: () => EVENT_BYTES, largestEventBytes: 4 * EVENT_BYTES };
  const all = eventsOf(95);

  /** Reads of `all`; `bytesRunOut` rows at most, the read then truncated as a page read out of bytes is. */
  function reader(bytesRunOut = Infinity) {
    const wants: number[] = [];
    const read = async (after: KeysetPosition | undefined, want: number): Promise<Pick<Page, 'events' | 'truncated'>> => {
      wants.push(want);
      const from = after === undefined ? 0 : Number(after.timestampUs) + 1;
      const events = all.slice(from, from + Math.min(want, bytesRunOut));
      return { events, truncated: events.length < Math.min(want, all.length - from) };
    };
    return { wants, read };
  }

  test('when events are smaller than the largest possible, then the first read asks for what one message of the largest carries and later ones for what one message of those read carries, never past the chunk size', async () => {
    const { wants, read } = reader();
    const messages: number[] = [];
    const sent = await streamPages(read, 8, 0, sizing, async (events) => void messages.push(events.length));
    expect(sent).toBe(95);
    // First: 10016 / 4000 = 2; then one message of 1000-byte events is 10, capped at the chunk size 8.
    expect(wants.slice(0, 3)).toEqual([2, 8, 8]);
    expect(messages.reduce((a, b) => a + b, 0)).toBe(95);
  });

  test('when every message is taken, then everything held is given back, and a stream holds at most about a read and the one ahead', async () => {
    const { read } = reader();
    const { ledger, held } = heldLedger();
    await streamPages(read, 500, 0, sizing, async () => undefined, undefined, held);
    expect(ledger.balance).toBe(0);
    // A read (10 events) and the one read ahead of it: 20 events' bytes.
    expect(ledger.peak).toBeGreaterThan(0);
    expect(ledger.peak).toBeLessThanOrEqual(20 * EVENT_BYTES);
  });

  test('when sending fails midway, then the failure goes to the caller and the read in hand and the one ahead are given back', async () => {
    const { read } = reader();
    const { ledger, held } = heldLedger();
    let messages = 0;
    const failing = async (): Promise<void> => {
      if (++messages === 3) throw new VaultError('CANCELLED', 'the client went away');
    };
    await expect(streamPages(read, 500, 0, sizing, failing, undefined, held)).rejects.toThrow('the client went away');
    expect(ledger.peak).toBeGreaterThan(0);
    expect(ledger.balance).toBe(0);
  });

  test('when a read stops short at its bytes, then the stream goes on after it rather than ending', async () => {
    const { wants, read } = reader(3);
    const sent: string[] = [];
    expect(await streamPages(read, 500, 0, sizing, async (events) => void sent.push(...events.map((event) => event.eventId)))).toBe(95);
    expect(sent).toEqual(all.map((event) => event.eventId));
    expect(wants.length).toBeGreaterThanOrEqual(Math.ceil(95 / 3));
  });

  test('when max_events is near, then reads ask for no more than what is left', async () => {
    const { wants, read } = reader();
    const sent = await streamPages(read, 500, 13, sizing, async () => undefined);
    expect(sent).toBe(13);
    expect(wants).toEqual([2, 10, 1]);
  });
});
