'use strict';
/**
 * The benchmark's load generator: a process of its own (forked by
 * run-bench.js), so that its CPU is neither the server's nor the
 * orchestrator's. It takes jobs over IPC ({ id, job, params }) and answers
 * { id, result } or { id, error }.
 *
 * Ingest messages are encoded with the generated codecs before the clock
 * starts (like the ceiling's pre-encoded COPY text), so the timed part is
 * sending, the server's work and the acknowledgements.
 */
const path = require('node:path');
const { credentials, makeGenericClientConstructor, Metadata } = require('@grpc/grpc-js');
const { benchEvent, toProtoEvent } = require('./event-shape');
const { runCeiling, runNaive, loadEvents } = require('./database-baselines');
const { Histogram } = require('../load/histogram');
const { createIngestClient, encodeMessage, runIngestLoad } = require('../load/ingest-driver');

const dist = path.resolve(__dirname, '../../dist');
const { AggregateRequest, AggregateResponse, QueryEventsRequest, QueryEventsResponse, QueryServiceService, StreamEventsRequest } = require(`${dist}/gen/telemetry/v1/query_service`);

const REQUEST_TYPES = { queryEvents: QueryEventsRequest, aggregate: AggregateRequest };
const RESPONSE_TYPES = { queryEvents: QueryEventsResponse, aggregate: AggregateResponse };

/** Messages of `batch` events for each of `workers` workers, `perWorker` events each, numbered apart. */
function encodeWorkload({ run, workers, perWorker, batch, payload, firstIndex = 0 }) {
  return Array.from({ length: workers }, (_, worker) => {
    const messages = [];
    const first = firstIndex + worker * perWorker;
    for (let start = 0; start < perWorker; start += batch) {
      const events = [];
      for (let i = start; i < Math.min(perWorker, start + batch); i++) events.push(toProtoEvent(benchEvent(run, first + i), payload));
      messages.push(encodeMessage(events));
    }
    return messages;
  });
}

function sourceOf(workload) {
  const positions = workload.map(() => 0);
  return (worker) => workload[worker][positions[worker]++];
}

function outcome(stats, elapsedMs) {
  return {
    events: stats.events,
    accepted: stats.accepted,
    duplicates: stats.duplicates,
    rejected: stats.rejected,
    calls: stats.calls,
    codes: stats.codes,
    elapsedMs,
    eventsPerSecond: stats.events / (elapsedMs / 1000),
    callLatencyMs: stats.latency.summary(),
  };
}

/** IngestStream as fast as the server takes it: `streams` streams, `count` events in all. */
async function vaultIngest({ target, keys, run, streams, batch, payload, count, eventsPerCall }) {
  const perWorker = Math.ceil(count / streams);
  const workload = encodeWorkload({ run, workers: streams, perWorker, batch, payload });
  const client = createIngestClient(target);
  try {
    const { stats, elapsedMs } = await runIngestLoad(client, {
      mode: 'stream',
      workers: streams,
      eventsPerSecond: 0,
      messagesPerCall: Math.max(1, Math.round(eventsPerCall / batch)),
      next: sourceOf(workload),
      keyFor: (worker) => keys[worker % keys.length],
    });
    return outcome(stats, elapsedMs);
  } finally {
    client.close();
  }
}

/** Unary Ingest calls of `batch` events at `rate` events/s in all (open loop), for `durationMs`: acknowledgement latency per message. */
async function vaultLatency({ target, keys, run, batch, payload, rate, durationMs }) {
  const workers = keys.length;
  const perWorker = Math.ceil((rate * durationMs) / 1000 / workers / batch) * batch;
  const workload = encodeWorkload({ run, workers, perWorker, batch, payload });
  const client = createIngestClient(target);
  try {
    const { stats, elapsedMs } = await runIngestLoad(client, {
      mode: 'unary',
      workers,
      eventsPerSecond: rate,
      next: sourceOf(workload),
      keyFor: (worker) => keys[worker],
    });
    return outcome(stats, elapsedMs);
  } finally {
    client.close();
  }
}

function keyed(key) {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  return metadata;
}

function unaryCall(client, method, request, key) {
  return new Promise((resolve, reject) => {
    client[method](request, keyed(key), (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/**
 * Timed QueryEvents / Aggregate calls: each case's requests in turn, `samples`
 * calls per case. `firstEventIds[i]`, when given, is checked against the
 * first event of request i's page (so a mis-built cursor cannot pass).
 */
async function timedQueries({ target, key, cases, samples }) {
  // Responses are timed to their last byte and decoded after the clock stops:
  // the figure is the server's answer time, not this process's decoder.
  const passThrough = (bytes) => bytes;
  const Client = makeGenericClientConstructor(
    {
      queryEvents: { ...QueryServiceService.queryEvents, responseDeserialize: passThrough },
      aggregate: { ...QueryServiceService.aggregate, responseDeserialize: passThrough },
    },
    'telemetry.v1.QueryService',
  );
  const client = new Client(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  try {
    const results = {};
    for (const testCase of cases) {
      const latency = new Histogram();
      let rows = 0;
      for (let sample = 0; sample < samples; sample++) {
        const which = sample % testCase.requests.length;
        const startedAt = performance.now();
        const bytes = await unaryCall(client, testCase.method, REQUEST_TYPES[testCase.method].fromPartial(testCase.requests[which]), key);
        latency.record(performance.now() - startedAt);
        const response = RESPONSE_TYPES[testCase.method].decode(bytes);
        const expected = testCase.firstEventIds?.[which];
        if (expected !== undefined && response.events[0]?.eventId !== expected) {
          throw new Error(`${testCase.label}: page ${which} starts with ${response.events[0]?.eventId}, expected ${expected}`);
        }
        rows = response.events?.length ?? response.rows?.length ?? 0;
      }
      results[testCase.label] = { ...latency.summary(), rows };
    }
    return results;
  } finally {
    client.close();
  }
}

/**
 * Counts the events of one StreamEventsResponse without decoding them: the
 * message is `repeated Event events = 1`, so each event is one field-1
 * length-delimited record. Decoding 1M events here would measure this
 * process's decoder rather than the server.
 */
function countEvents(buffer) {
  let offset = 0;
  let count = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = buffer[offset++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (offset < buffer.length) {
    const tag = varint();
    if (tag !== 0x0a) throw new Error(`unexpected field tag ${tag} in a StreamEventsResponse`);
    const length = varint();
    offset += length;
    count++;
  }
  return count;
}

/** StreamEvents of the whole tenant: events/s as the client receives them. */
async function streamEvents({ target, key, payloadAsJson, expectedEvents }) {
  const Client = makeGenericClientConstructor({ streamEvents: { ...QueryServiceService.streamEvents, responseDeserialize: (bytes) => bytes } }, 'telemetry.v1.QueryService');
  const client = new Client(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  const request = StreamEventsRequest.fromPartial({ order: 1, payloadAsJson });
  try {
    const startedAt = performance.now();
    let events = 0;
    let bytes = 0;
    await new Promise((resolve, reject) => {
      const call = client.streamEvents(request, keyed(key));
      call.on('data', (chunk) => {
        try {
          events += countEvents(chunk);
          bytes += chunk.length;
        } catch (error) {
          call.cancel();
          reject(error);
        }
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    const elapsedMs = performance.now() - startedAt;
    if (expectedEvents !== undefined && events !== expectedEvents) throw new Error(`StreamEvents returned ${events} events, expected ${expectedEvents}`);
    return { events, bytes, elapsedMs, eventsPerSecond: events / (elapsedMs / 1000) };
  } finally {
    client.close();
  }
}

/**
 * The Node.js client (clients/node): `ingesters` ingesters, each on its own
 * VaultClient and tenant key, adding `count` events in all. Unlike vaultIngest,
 * the timed part includes what the client costs an application: batching,
 * encoding, stream cycling and waiting for every acknowledgement (close()).
 */
async function sdkIngest({ target, keys, run, ingesters, count }) {
  const { VaultClient } = require('../../clients/node');
  const perIngester = Math.ceil(count / ingesters);
  const clients = Array.from({ length: ingesters }, (_, i) => new VaultClient({ address: target, apiKey: keys[i % keys.length] }));
  // The application's events exist before the clock starts (as the raw path's messages do); add() onwards is timed.
  const inputs = clients.map((_, worker) => {
    const list = [];
    for (let i = worker * perIngester; i < Math.min(count, (worker + 1) * perIngester); i++) {
      const event = benchEvent(run, i);
      list.push({ eventId: event.eventId, timestamp: new Date(event.timestampMicros / 1000), eventType: event.eventType, serviceName: event.serviceName, payloadJson: event.payloadJson });
    }
    return list;
  });
  const startedAt = performance.now();
  try {
    const counters = await Promise.all(
      clients.map(async (client, worker) => {
        const ingester = client.ingester();
        for (const input of inputs[worker]) await ingester.add(input);
        await ingester.close();
        return ingester.counters;
      }),
    );
    const elapsedMs = performance.now() - startedAt;
    const sum = (field) => counters.reduce((total, c) => total + c[field], 0);
    const codes = sum('failed') > 0 ? { FAILED: sum('failed') } : { OK: 1 };
    return { events: sum('accepted') + sum('duplicates'), accepted: sum('accepted'), duplicates: sum('duplicates'), rejected: sum('rejected'), retried: sum('retried'), codes, elapsedMs, eventsPerSecond: count / (elapsedMs / 1000) };
  } finally {
    for (const client of clients) client.close();
  }
}

const JOBS = { ceiling: runCeiling, naive: runNaive, loadEvents, vaultIngest, vaultLatency, sdkIngest, timedQueries, streamEvents };

process.on('message', async ({ id, job, params }) => {
  try {
    const result = await JOBS[job](params);
    process.send({ id, result });
  } catch (error) {
    process.send({ id, error: error instanceof Error ? error.stack : String(error) });
  }
});
