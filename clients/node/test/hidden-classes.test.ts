import { Metadata } from '@grpc/grpc-js';
import { createFrameEncoder, type FramedIngestClient } from '../src/encode-event';
import { Ingester } from '../src/ingester';
import { createRunQueue } from '../src/run-queue';

/**
 * What add() touches per event is made by object literals, and an Ingester
 * has no fields of its own (docs/sdk.md, "Performance"): V8 then keeps their
 * hidden classes, and the optimized code built on them, after every ingester
 * was collected. A class instance there would bring back a recompilation per
 * new ingester, which no functional test would notice.
 */
describe('the Node.js client per-event objects', () => {
  it('are plain objects, and an Ingester has no own properties', async () => {
    expect(Object.getPrototypeOf(createFrameEncoder())).toBe(Object.prototype);
    expect(Object.getPrototypeOf(createRunQueue())).toBe(Object.prototype);
    const client = { ingestStream: () => { throw new Error('no event was added'); } } as unknown as FramedIngestClient;
    const ingester = new Ingester(client, () => new Metadata(), 1000);
    expect(Reflect.ownKeys(ingester)).toEqual([]);
    expect(ingester.counters.buffered).toBe(0);
    await ingester.close();
    await expect(ingester.add({ eventType: 'log', serviceName: 'api' })).rejects.toThrow('the ingester is closed');
  });
});
