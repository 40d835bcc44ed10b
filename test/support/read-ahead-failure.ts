/**
 * Run as its own Node.js process by test/unit/stream-pages-read-ahead.test.ts
 * (jest's sandbox does not see process-level unhandled rejections): a stream
 * whose read ahead fails while the chunk before it still waits for its client
 * (a client that stopped reading). Node's default for an unhandled rejection
 * ends the process with exit code 1 before anything is printed; otherwise it
 * prints how the stream ended, as one JSON line.
 */
import type { KeysetPosition, StoredEvent } from '../../src/domain/query/event-reader';
import { streamPages } from '../../src/domain/query/stream-pages';
import { VaultError } from '../../src/domain/vault-error';

const EVENT_BYTES = 100;
const sizing = { maxBytes: 10 * EVENT_BYTES + 16, eventBytes: () => EVENT_BYTES, largestEventBytes: EVENT_BYTES };
const stalledMs = Number(process.argv[2] ?? 300);

function event(i: number): StoredEvent {
  return { eventId: `e${i}`, timestampUs: BigInt(i), eventType: 't', serviceName: 's', payload: undefined, payloadJson: '{}', unservablePayloadBytes: undefined, receivedAtUs: 0n };
}

let reads = 0;
const read = async (_after: KeysetPosition | undefined, want: number): Promise<{ events: StoredEvent[] }> => {
  reads++;
  // The first read gives a full chunk; the one read ahead of it fails at once, as when no database connection is free in time.
  if (reads === 1) return { events: Array.from({ length: want }, (_, i) => event(i)) };
  throw new VaultError('UNAVAILABLE', 'the server is overloaded: no database connection became free within 2000 ms; retry the call');
};
// The client takes nothing for `stalledMs`, then its messages go.
const send = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, stalledMs));

streamPages(read, 500, 0, sizing, send).then(
  (sent) => process.stdout.write(`${JSON.stringify({ ended: 'ok', sent, reads })}\n`),
  (error: unknown) => process.stdout.write(`${JSON.stringify({ ended: 'failed', message: error instanceof Error ? error.message : String(error), reads })}\n`),
);
