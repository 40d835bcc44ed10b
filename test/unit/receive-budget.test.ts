import { Receipt } from '../../src/transport/grpc/calls/budget-received-messages';
import { ReceiveBudget } from '../../src/transport/receive-budget';
import type { VaultError } from '../../src/domain/vault-error';

/** A gRPC length prefix (compressed flag, big-endian length) and `length` body bytes. */
function message(length: number, compressed = false): Buffer {
  const framed = Buffer.alloc(5 + length, 0x61);
  framed[0] = compressed ? 1 : 0;
  framed.writeUInt32BE(length, 1);
  return framed;
}

/** A stream that counts its pauses and keeps the data listeners put first. */
class FakeStream {
  pauses = 0;
  readonly firstListeners: ((chunk: Buffer) => void)[] = [];
  pause(): void {
    this.pauses++;
  }
  prependListener(_event: 'data', listener: (chunk: Buffer) => void): void {
    this.firstListeners.unshift(listener);
  }
  emit(chunk: Buffer): void {
    for (const listener of this.firstListeners) listener(chunk);
  }
}

const MAX_MESSAGE = 1000;

describe('ReceiveBudget', () => {
  test('when bytes are taken and given back, then what is held follows, and a take past the budget takes nothing', () => {
    const budget = new ReceiveBudget(10_000, MAX_MESSAGE);
    expect(budget.tryTake(3000, undefined)).toBe(true);
    expect(budget.tryTake(7000, undefined)).toBe(true);
    expect(budget.heldBytes()).toBe(10_000);
    expect(budget.tryTake(1, undefined)).toBe(false);
    expect(budget.heldBytes()).toBe(10_000);
    budget.give(3000, undefined);
    expect(budget.heldBytes()).toBe(7000);
    expect(budget.tryTake(3000, undefined)).toBe(true);
  });

  test('when one tenant holds half the budget, then its next take is refused naming its share, while another tenant still takes', () => {
    const budget = new ReceiveBudget(10_000, MAX_MESSAGE);
    expect(budget.tenantMaxBytes).toBe(5000);
    expect(budget.tryTake(4000, 'a')).toBe(true);
    expect(budget.tryTake(1001, 'a')).toBe(false);
    expect(budget.overloaded(1001, 'a').message).toBe(
      "the server is overloaded: this tenant's requests being received already hold 4000 bytes and this one needs 1001 more, past the 5000 bytes one tenant may hold (half of GRPC_RECEIVE_BUDGET, 10000); retry the call",
    );
    expect(budget.tryTake(5000, 'b')).toBe(true);
    expect(budget.heldBytes('a')).toBe(4000);
    expect(budget.heldBytes('b')).toBe(5000);
    budget.give(4000, 'a');
    expect(budget.heldBytes('a')).toBe(0);
    expect(budget.heldBytes()).toBe(5000);
  });

  test('when the whole budget is the reason, then the refusal is UNAVAILABLE with a 1 s retry naming GRPC_RECEIVE_BUDGET', () => {
    const budget = new ReceiveBudget(10_000, MAX_MESSAGE);
    budget.tryTake(4500, 'a');
    budget.tryTake(4500, 'b');
    const refusal = budget.overloaded(2000, 'c');
    expect(refusal.code).toBe('UNAVAILABLE');
    expect(refusal.retryAfterMs).toBe(1000);
    expect(refusal.message).toBe('the server is overloaded: requests being received already hold 9000 bytes and this one needs 2000 more (GRPC_RECEIVE_BUDGET is 10000); retry the call');
  });

  test('when the budget is only twice the largest message, then one tenant may hold all of it (a compressed message of the largest size must fit)', () => {
    expect(new ReceiveBudget(2 * MAX_MESSAGE, MAX_MESSAGE).tenantMaxBytes).toBe(2 * MAX_MESSAGE);
    expect(new ReceiveBudget(3 * MAX_MESSAGE, MAX_MESSAGE).tenantMaxBytes).toBe(2 * MAX_MESSAGE);
  });
});

describe('Receipt', () => {
  let budget: ReceiveBudget;
  let stream: FakeStream;
  let receipt: Receipt;
  let refusals: VaultError[];

  beforeEach(() => {
    budget = new ReceiveBudget(10_000, MAX_MESSAGE);
    stream = new FakeStream();
    receipt = new Receipt(stream, budget);
    refusals = [];
    receipt.claimed('tenant', (refusal) => refusals.push(refusal));
  });

  test('when a message arrives in pieces, prefix split across chunks, then it takes its whole size once its prefix is complete, and gives it back when delivered', () => {
    const framed = message(600);
    receipt.received(framed.subarray(0, 3));
    expect(budget.heldBytes()).toBe(0);
    receipt.received(framed.subarray(3, 100));
    expect(budget.heldBytes()).toBe(600);
    receipt.received(framed.subarray(100));
    expect(budget.heldBytes('tenant')).toBe(600);
    receipt.delivered();
    expect(budget.heldBytes()).toBe(0);
    expect(stream.pauses).toBe(0);
  });

  test('when several messages come in one chunk, then each takes its size, and deliveries give them back oldest first', () => {
    receipt.received(Buffer.concat([message(100), message(0), message(300), message(50).subarray(0, 20)]));
    expect(budget.heldBytes()).toBe(450);
    receipt.delivered();
    expect(budget.heldBytes()).toBe(350);
    receipt.delivered();
    expect(budget.heldBytes()).toBe(350);
    receipt.delivered();
    expect(budget.heldBytes()).toBe(50);
    receipt.received(message(50).subarray(20));
    receipt.delivered();
    expect(budget.heldBytes()).toBe(0);
  });

  test('when a message is gzip-compressed, then it also takes the largest message size, what it may inflate to', () => {
    receipt.received(message(200, true));
    expect(budget.heldBytes()).toBe(200 + MAX_MESSAGE);
    receipt.delivered();
    expect(budget.heldBytes()).toBe(0);
  });

  test('when a message is over the largest size, then it takes nothing (grpc-js refuses it unread)', () => {
    receipt.received(message(MAX_MESSAGE + 1).subarray(0, 50));
    expect(budget.heldBytes()).toBe(0);
    expect(refusals).toEqual([]);
  });

  test('when a message does not fit in the tenant\'s share, then the stream is paused, the call is refused once, and later chunks keep it paused without taking anything', () => {
    receipt.received(Buffer.concat([message(900), message(900), message(900)]));
    expect(budget.heldBytes()).toBe(2700);
    receipt.received(message(900).subarray(0, 10));
    // 3600 is under the tenant's 5000: the fourth fits too.
    expect(refusals).toEqual([]);
    receipt.received(message(900).subarray(10));
    receipt.received(message(1000).subarray(0, 5));
    expect(budget.heldBytes()).toBe(4600);
    expect(refusals).toEqual([]);
    receipt.received(message(1000).subarray(5));
    receipt.received(message(500).subarray(0, 5));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.message).toContain('this one needs 500 more, past the 5000 bytes one tenant may hold');
    expect(stream.pauses).toBe(1);
    receipt.received(message(10));
    expect(stream.pauses).toBe(2);
    expect(refusals).toHaveLength(1);
    expect(budget.heldBytes()).toBe(4600);
  });

  test('when the call ends with messages undelivered, then everything they held goes back, and a late delivery gives nothing twice', () => {
    receipt.received(Buffer.concat([message(100), message(200), message(300).subarray(0, 7)]));
    receipt.delivered();
    expect(budget.heldBytes()).toBe(500);
    receipt.close();
    expect(budget.heldBytes()).toBe(0);
    receipt.delivered();
    expect(budget.heldBytes()).toBe(0);
  });

  test('when a call is claimed, then its request chunks reach the receipt through a listener put before any other', () => {
    const unclaimed = new Receipt(new FakeStream(), budget);
    unclaimed.received(message(100));
    expect(budget.heldBytes()).toBe(100);
    unclaimed.close();
    stream.emit(message(300));
    expect(stream.firstListeners).toHaveLength(1);
    expect(budget.heldBytes('tenant')).toBe(300);
  });
});
