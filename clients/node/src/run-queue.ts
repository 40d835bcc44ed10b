import type { Frame } from './encode-event';

/**
 * Events held, as runs: `count` frames (encode-event.ts) lying one after
 * another in one slab, bytes [start, start + length), the first of them event
 * number `seq` of the ingester, added at `addedAt`. An ingester holds an
 * object per run, not per event: its events are encoded one after another,
 * so a run is usually a whole message, and nothing allocated per event lives
 * until the event is acknowledged (young-generation collections copied every
 * such object, and that cost grew with the events held).
 */
export interface Run extends Frame {
  readonly slab: Buffer;
  readonly start: number;
  readonly length: number;
  readonly count: number;
  readonly seq: number;
  /** When the run's first event was added (ms since the epoch): the linger clock of the events queued behind it too. */
  readonly addedAt: number;
}

/** A run still growing in the queue (only the queue changes it). */
export interface OpenRun {
  slab: Buffer;
  start: number;
  length: number;
  count: number;
  seq: number;
  addedAt: number;
}

/** A message of a stream: its runs, sent as their bytes joined (messageBytes). */
export type Message = readonly Run[];

export const eventsIn = (message: Message): number => message.reduce((sum, run) => sum + run.count, 0);

export const sizeOf = (message: Message): number => message.reduce((sum, run) => sum + run.length, 0);

/** The size of the frame at `at` of `slab`: its tag byte, its length varint and the event's bytes. */
function frameSize(slab: Buffer, at: number): number {
  let length = 0;
  let shift = 1;
  let i = at + 1;
  for (;;) {
    const byte = slab[i++]!;
    length += (byte & 0x7f) * shift;
    if (byte < 0x80) break;
    shift *= 128;
  }
  return i - at + length;
}

/** The run's events one by one, each a run of one frame (for cutting messages and reporting events: rare paths). */
export function singles(run: Run): Run[] {
  const out: Run[] = [];
  let at = run.start;
  for (let i = 0; i < run.count; i++) {
    const length = frameSize(run.slab, at);
    out.push({ slab: run.slab, start: at, length, count: 1, seq: run.seq + i, addedAt: run.addedAt });
    at += length;
  }
  return out;
}

/** Consecutive runs (in seq order) merged where their frames lie one after another. */
export function joinRuns(runs: readonly Run[]): Run[] {
  const out: OpenRun[] = [];
  for (const run of runs) {
    const last = out.at(-1);
    if (last && last.slab === run.slab && last.start + last.length === run.start && last.seq + last.count === run.seq) {
      last.length += run.length;
      last.count += run.count;
    } else {
      out.push({ ...run });
    }
  }
  return out;
}

/**
 * The queue of events not yet in a stream: runs in seq order, with an O(1)
 * take from the head. A plain object made by createRunQueue() and changed
 * only by the functions below, not a class instance: see createRunQueue.
 */
export interface RunQueue {
  runs: OpenRun[];
  head: number;
  /** Events queued. */
  events: number;
  /** Their bytes. */
  bytes: number;
}

/**
 * A new, empty queue. An object literal rather than a class instance, for
 * the same reason as createFrameEncoder (encode-event.ts): V8 keeps a
 * literal's hidden class alive for as long as this function lives, while a
 * class instance's is collected with the last instance, and with it the
 * optimized code of appendRun (docs/sdk.md, "Performance").
 */
export function createRunQueue(): RunQueue {
  return { runs: [], head: 0, events: 0, bytes: 0 };
}

/** The oldest queued run (its seq and addedAt are the queue's lowest). */
export function peekRun(queue: RunQueue): Run | undefined {
  return queue.runs[queue.head];
}

/**
 * Queues the frame at [start, start + length) of `slab`, event `seq`: it
 * extends the last run when it follows that run's bytes and the run stays
 * within `maxEvents` and `maxBytes` (a message's limits), so that a run is
 * at most a message.
 */
export function appendRun(queue: RunQueue, slab: Buffer, start: number, length: number, seq: number, maxEvents: number, maxBytes: number): void {
  const runs = queue.runs;
  const tail = runs.length > queue.head ? runs[runs.length - 1]! : undefined;
  if (tail !== undefined && tail.slab === slab && tail.start + tail.length === start && tail.seq + tail.count === seq && tail.count < maxEvents && tail.length + length <= maxBytes) {
    tail.count++;
    tail.length += length;
  } else {
    runs.push({ slab, start, length, count: 1, seq, addedAt: Date.now() });
  }
  queue.events++;
  queue.bytes += length;
}

/**
 * Takes a message from the head: at most `maxEvents` events and `maxBytes`
 * bytes, but always at least one event. A run is cut when only part of it
 * fits; the part left keeps its addedAt (so it is never sent later than its
 * first event's linger).
 */
export function takeRuns(queue: RunQueue, maxEvents: number, maxBytes: number): Run[] {
  const message: Run[] = [];
  let events = 0;
  let bytes = 0;
  while (events < maxEvents && queue.head < queue.runs.length) {
    const run = queue.runs[queue.head]!;
    if (run.count <= maxEvents - events && run.length <= maxBytes - bytes) {
      message.push(run);
      events += run.count;
      bytes += run.length;
      shiftRun(queue);
      continue;
    }
    // Only part of the run fits: as many whole frames as the limits allow (one at least in an empty message).
    let count = 0;
    let size = 0;
    let at = run.start;
    while (count < run.count && count < maxEvents - events) {
      const frame = frameSize(run.slab, at);
      if (size + frame > maxBytes - bytes && (count > 0 || events > 0)) break;
      count++;
      size += frame;
      at += frame;
    }
    if (count === 0) break;
    message.push({ slab: run.slab, start: run.start, length: size, count, seq: run.seq, addedAt: run.addedAt });
    events += count;
    bytes += size;
    run.start += size;
    run.length -= size;
    run.count -= count;
    run.seq += count;
    queue.events -= count;
    queue.bytes -= size;
    break;
  }
  return message;
}

/** Empties the queue, returning its runs. */
export function drainRuns(queue: RunQueue): Run[] {
  const runs = queue.runs.slice(queue.head);
  queue.runs = [];
  queue.head = 0;
  queue.events = 0;
  queue.bytes = 0;
  return runs;
}

function shiftRun(queue: RunQueue): void {
  const run = queue.runs[queue.head++]!;
  queue.events -= run.count;
  queue.bytes -= run.length;
  if (queue.head > 1024 && queue.head * 2 > queue.runs.length) {
    queue.runs = queue.runs.slice(queue.head);
    queue.head = 0;
  }
}
