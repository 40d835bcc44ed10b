'use strict';
/**
 * The ingest load engine shared by `npm run load` (scripts/load/load.js) and
 * the benchmark's load generator (scripts/bench/load-generator.js).
 *
 * Messages come from a source as bytes already encoded with the generated
 * telemetry.v1 codecs (IngestStreamRequest and IngestRequest share one
 * layout), so the caller decides whether encoding happens before the clock
 * starts (the benchmark) or as it goes (the load tool).
 */
const path = require('node:path');
const { credentials, makeGenericClientConstructor, Metadata, status } = require('@grpc/grpc-js');
const { Histogram } = require('./histogram');

const dist = path.resolve(__dirname, '../../dist');
const { IngestServiceService, IngestStreamRequest } = require(`${dist}/gen/telemetry/v1/ingest_service`);

/** A message to send: its encoded bytes and how many events it carries. */
/** @typedef {{ bytes: Buffer, events: number }} EncodedMessage */

/** Encodes events (telemetry.v1.Event objects) as one IngestStreamRequest / IngestRequest. */
function encodeMessage(events) {
  const bytes = IngestStreamRequest.encode({ events }).finish();
  return { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), events: events.length };
}

/**
 * A client of the generated IngestService definition that sends requests as
 * they come (already encoded bytes) and decodes responses with the generated
 * code.
 */
function createIngestClient(target, { tls = false, caFile } = {}) {
  const passThrough = (bytes) => bytes;
  const Client = makeGenericClientConstructor(
    {
      ingestStream: { ...IngestServiceService.ingestStream, requestSerialize: passThrough },
      ingest: { ...IngestServiceService.ingest, requestSerialize: passThrough },
    },
    'telemetry.v1.IngestService',
  );
  const channel = tls ? credentials.createSsl(caFile ? require('node:fs').readFileSync(caFile) : undefined) : credentials.createInsecure();
  return new Client(target, channel, { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
}

/** Counters and latencies of a run; `take()` gives what happened since the last take (for progress lines). */
class LoadStats {
  constructor() {
    this.events = 0;
    this.accepted = 0;
    this.duplicates = 0;
    this.rejected = 0;
    this.calls = 0;
    this.codes = {};
    this.latency = new Histogram();
    this.window = { events: 0, latency: new Histogram() };
  }

  ok(response, latencyMs) {
    const events = Number(response.accepted) + Number(response.duplicates) + Number(response.rejected);
    this.events += events;
    this.accepted += Number(response.accepted);
    this.duplicates += Number(response.duplicates);
    this.rejected += Number(response.rejected);
    this.window.events += events;
    this.call('OK', latencyMs);
  }

  failed(error, latencyMs) {
    this.call(status[error.code] ?? String(error.code), latencyMs);
  }

  call(code, latencyMs) {
    this.calls++;
    this.codes[code] = (this.codes[code] ?? 0) + 1;
    this.latency.record(latencyMs);
    this.window.latency.record(latencyMs);
  }

  take() {
    const window = this.window;
    this.window = { events: 0, latency: new Histogram() };
    return window;
  }
}

function metadataFor(key, requestId) {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  if (requestId) metadata.set('x-request-id', requestId);
  return metadata;
}

function sleep(ms) {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Resolves when the call can take more ('drain') or has ended ('status'): a failed call never drains. */
function writable(call) {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('status', done);
      resolve();
    };
    call.on('drain', done);
    call.on('status', done);
  });
}

/**
 * Paces one worker at `eventsPerSecond` (0 = no pacing): `due(events)` is the
 * time the next message of that many events should leave. Lateness is not
 * forgiven, so latencies measured from `due` include time spent waiting
 * behind a slow server (no coordinated omission).
 */
function pacer(eventsPerSecond, startedAt, phase) {
  let sent;
  return (events) => {
    // Workers start a fraction `phase` of a message's interval apart, so that
    // together they send evenly instead of all at the same instants.
    sent ??= phase * events;
    const due = eventsPerSecond > 0 ? startedAt + (sent / eventsPerSecond) * 1000 : performance.now();
    sent += events;
    return due;
  };
}

/**
 * One client stream worker: calls of up to `messagesPerCall` messages, each
 * written as flow control allows; the latency of a call runs from its first
 * message's due time to the response.
 */
async function streamWorker(client, options, worker, stats, shouldStop) {
  const due = pacer(options.eventsPerSecond / options.workers, performance.now(), worker / options.workers);
  for (let callIndex = 0; !shouldStop(); callIndex++) {
    let message = options.next(worker);
    if (message === undefined) return;
    const firstDue = due(message.events);
    await sleep(firstDue - performance.now());
    let finished = false;
    const outcome = new Promise((resolve) => {
      const call = client.ingestStream(metadataFor(options.keyFor(worker), `load-${worker}-${callIndex}`), (error, response) => {
        finished = true;
        resolve({ error, response });
      });
      void writeMessages(call);
    });
    async function writeMessages(call) {
      for (let sent = 0; message !== undefined && !finished; ) {
        if (!call.write(message.bytes)) await writable(call);
        if (finished || ++sent >= options.messagesPerCall || shouldStop()) break;
        message = options.next(worker);
        if (message !== undefined) await sleep(due(message.events) - performance.now());
      }
      call.end();
    }
    const { error, response } = await outcome;
    const latencyMs = performance.now() - firstDue;
    if (error) {
      stats.failed(error, latencyMs);
      await sleep(backoffMs(error));
    } else {
      stats.ok(response, latencyMs);
    }
  }
}

/**
 * One unary worker, open loop: each message is its own Ingest call, sent when
 * due whether or not earlier calls have answered (at most `maxInFlight` at
 * once; past that the worker waits, and the wait counts in the latencies).
 */
async function unaryWorker(client, options, worker, stats, shouldStop) {
  const due = pacer(options.eventsPerSecond / options.workers, performance.now(), worker / options.workers);
  const inFlight = new Set();
  for (let callIndex = 0; !shouldStop(); callIndex++) {
    const message = options.next(worker);
    if (message === undefined) break;
    const sendAt = due(message.events);
    await sleep(sendAt - performance.now());
    while (inFlight.size >= options.maxInFlight) await Promise.race(inFlight);
    const call = new Promise((resolve) => {
      client.ingest(message.bytes, metadataFor(options.keyFor(worker), `load-${worker}-${callIndex}`), (error, response) => {
        const latencyMs = performance.now() - sendAt;
        if (error) stats.failed(error, latencyMs);
        else stats.ok(response, latencyMs);
        resolve();
      });
    });
    inFlight.add(call);
    void call.then(() => inFlight.delete(call));
  }
  await Promise.all(inFlight);
}

/** How long a worker waits after a failed call: the server's retry-after when it gave one, else a short pause. */
function backoffMs(error) {
  const retryAfter = Number(error.metadata?.get('retry-after')?.[0]);
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter * 1000, 5000);
  return error.code === status.UNAUTHENTICATED || error.code === status.INVALID_ARGUMENT ? 1000 : 100;
}

/**
 * Runs ingest load until the sources are exhausted or `durationMs` passes.
 *
 * @param {object} client from createIngestClient
 * @param {object} options
 * @param {'stream'|'unary'} options.mode IngestStream calls, or unary Ingest calls (one message each, open loop)
 * @param {number} options.workers concurrent streams (stream mode) or independent senders (unary mode)
 * @param {number} options.eventsPerSecond total target rate over all workers; 0 = as fast as the server takes them
 * @param {number} [options.messagesPerCall] messages per IngestStream call (stream mode)
 * @param {number} [options.maxInFlight] unary calls in flight per worker at most (unary mode)
 * @param {number} [options.durationMs] stop starting new messages after this long (default: when the sources end)
 * @param {(worker: number) => EncodedMessage | undefined} options.next the worker's next message
 * @param {(worker: number) => string} options.keyFor the API key a worker uses
 * @param {LoadStats} [options.stats] where to count (to print progress while it runs)
 * @returns {Promise<{ stats: LoadStats, elapsedMs: number }>}
 */
async function runIngestLoad(client, options) {
  const settings = { messagesPerCall: 10, maxInFlight: 1000, ...options };
  const stats = settings.stats ?? new LoadStats();
  const startedAt = performance.now();
  const shouldStop = () => settings.durationMs !== undefined && performance.now() - startedAt >= settings.durationMs;
  const worker = settings.mode === 'unary' ? unaryWorker : streamWorker;
  await Promise.all(Array.from({ length: settings.workers }, (_, index) => worker(client, settings, index, stats, shouldStop)));
  return { stats, elapsedMs: performance.now() - startedAt };
}

module.exports = { createIngestClient, encodeMessage, runIngestLoad, LoadStats };
