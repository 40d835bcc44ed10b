import { IngestStreamRequest } from '../src/gen/telemetry/v1/ingest_service';
import { createFrameEncoder, encodeFrame, messageBytes, type FrameEncoder } from '../src/encode-event';
import { appendRun, createRunQueue, drainRuns, eventsIn, joinRuns, peekRun, singles, sizeOf, takeRuns, type RunQueue, type Run } from '../src/run-queue';

/** Encodes event `i` (its id is `id-<i>`) and queues it as event number `i`. */
function addEvent(queue: RunQueue, encoder: FrameEncoder, i: number, maxEvents = 1000, maxBytes = 1 << 20, payloadJson = `{"i":${i}}`): number {
  const start = encodeFrame(encoder, `id-${i}`, 1_700_000_000 + i, 0, 'log', 'api', payloadJson);
  const length = encoder.end - start;
  appendRun(queue, encoder.slab, start, length, i, maxEvents, maxBytes);
  return length;
}

const idsOf = (message: readonly Run[]): string[] => IngestStreamRequest.decode(messageBytes(message)).events.map((event) => event.eventId);

describe('the Node.js client run queue', () => {
  test('when events are encoded one after another, then they are held as one run per message (up to maxEvents and maxBytes), and a frame that does not follow the last starts a run of its own', () => {
    const queue = createRunQueue();
    const encoder = createFrameEncoder();
    for (let i = 0; i < 25; i++) addEvent(queue, encoder, i, 10);
    expect(queue.events).toBe(25);
    const runs = drainRuns(queue);
    expect(runs.map((run) => run.count)).toEqual([10, 10, 5]);
    expect(runs.map((run) => run.seq)).toEqual([0, 10, 20]);
    expect(runs.flatMap((run) => idsOf([run]))).toEqual(Array.from({ length: 25 }, (_, i) => `id-${i}`));
    expect(queue.events).toBe(0);
    expect(queue.bytes).toBe(0);

    // Another encoder's frame (another slab) between two of this one's: three runs, not one.
    const other = createFrameEncoder();
    addEvent(queue, encoder, 25);
    addEvent(queue, other, 26);
    addEvent(queue, encoder, 27);
    expect(drainRuns(queue).map((run) => run.count)).toEqual([1, 1, 1]);

    // A byte limit of three frames' size: runs of three.
    const size = addEvent(queue, encoder, 28);
    drainRuns(queue);
    for (let i = 29; i < 36; i++) addEvent(queue, encoder, i, 1000, 3 * size);
    expect(drainRuns(queue).map((run) => run.count)).toEqual([3, 3, 1]);
  });

  test('when a message takes fewer events or bytes than the head run holds, then the run is cut at a frame boundary and the rest stays queued with its own seq and the first event\'s addedAt', () => {
    const queue = createRunQueue();
    const encoder = createFrameEncoder();
    let bytes = 0;
    for (let i = 0; i < 10; i++) bytes += addEvent(queue, encoder, i);
    const addedAt = peekRun(queue)!.addedAt;

    const first = takeRuns(queue, 4, 1 << 20);
    expect(idsOf(first)).toEqual(['id-0', 'id-1', 'id-2', 'id-3']);
    expect(eventsIn(first)).toBe(4);
    expect(queue.events).toBe(6);
    expect(queue.bytes).toBe(bytes - sizeOf(first));
    expect(peekRun(queue)).toMatchObject({ seq: 4, count: 6, addedAt });

    // Two frames' worth of bytes (every frame here is the same size).
    const second = takeRuns(queue, 1000, 2 * (sizeOf(first) / 4));
    expect(idsOf(second)).toEqual(['id-4', 'id-5']);

    // A limit below one frame still takes one frame: a message is never empty.
    const third = takeRuns(queue, 1000, 1);
    expect(idsOf(third)).toEqual(['id-6']);

    const rest = takeRuns(queue, 1000, 1 << 20);
    expect(idsOf(rest)).toEqual(['id-7', 'id-8', 'id-9']);
    expect(queue.events).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(takeRuns(queue, 1000, 1 << 20)).toEqual([]);
  });

  test('when a message spans several runs, then take() joins whole runs in order up to the limits', () => {
    const queue = createRunQueue();
    const encoder = createFrameEncoder();
    for (let i = 0; i < 12; i++) addEvent(queue, encoder, i, 5);
    const message = takeRuns(queue, 8, 1 << 20);
    expect(message.map((run) => run.count)).toEqual([5, 3]);
    expect(idsOf(message)).toEqual(Array.from({ length: 8 }, (_, i) => `id-${i}`));
    expect(peekRun(queue)).toMatchObject({ seq: 8, count: 2 });
  });

  test('when runs are cut into single frames and joined again, then the frames are the same bytes, and only frames lying one after another with consecutive seqs are joined', () => {
    const queue = createRunQueue();
    const encoder = createFrameEncoder();
    for (let i = 0; i < 6; i++) addEvent(queue, encoder, i, 1000, 1 << 20, i === 3 ? `{"long":"${'x'.repeat(300)}"}` : `{"i":${i}}`);
    const [run] = drainRuns(queue);
    const frames = singles(run!);
    expect(frames.map((frame) => frame.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(frames.every((frame) => frame.count === 1)).toBe(true);
    expect(frames.map((frame) => idsOf([frame])[0])).toEqual(['id-0', 'id-1', 'id-2', 'id-3', 'id-4', 'id-5']);
    expect(sizeOf(frames)).toBe(run!.length);

    expect(joinRuns(frames)).toEqual([{ ...run! }]);
    const gapped = joinRuns([frames[0]!, frames[1]!, frames[3]!, frames[4]!]);
    expect(gapped.map((joined) => [joined.seq, joined.count])).toEqual([
      [0, 2],
      [3, 2],
    ]);
    expect(gapped.flatMap((joined) => idsOf([joined]))).toEqual(['id-0', 'id-1', 'id-3', 'id-4']);
  });
});
