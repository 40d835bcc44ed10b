/**
 * The benchmark's load generator: a process of its own (forked by
 * run-bench.ts), so that its CPU is neither the server's nor the
 * orchestrator's. It takes jobs over IPC ({ id, job, params }) and answers
 * { id, result } or { id, error }.
 *
 * Ingest messages are encoded with the generated codecs before the clock
 * starts (like the ceiling's pre-encoded COPY text), so the timed part is
 * sending, the server's work and the acknowledgements.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Client, credentials, makeGenericClientConstructor, Metadata, status, type ClientReadableStream, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { VaultClient, type EventInput, type IngesterCounters, type IngesterOptions } from '@telemetry-vault/client';
import {
  AggregateRequest,
  AggregateResponse,
  QueryEventsRequest,
  QueryEventsResponse,
  QueryServiceService,
  StreamEventsRequest,
} from '../../src/gen/telemetry/v1/query_service';
import type { Event } from '../../src/gen/telemetry/v1/event';
import type { AnyValue, ExportLogsRequest } from '../../src/domain/otlp/otlp-model';
import { logsToEvents } from '../../src/transport/otlp/logs-to-events';
import { OTLP_SCHEMAS } from '../../src/transport/otlp/otlp-schemas';
import { Histogram, type LatencySummary } from '../load/histogram';
import { createH2IngestClient } from '../load/h2-unary-client';
import { createIngestClient, encodeMessage, runIngestLoad, type EncodedMessage, type LoadStats } from '../load/ingest-driver';
import { loadEvents, runCeiling, runNaive } from './database-baselines';
import { benchEvent, toProtoEvent, type PayloadMode } from './event-shape';
import { followLatency, withFollowers, type FollowersOutcome } from './follow-load';

interface WorkloadOptions {
  readonly run: string;
  readonly workers: number;
  readonly perWorker: number;
  readonly batch: number;
  readonly payload: PayloadMode;
  readonly firstIndex?: number;
}

/** The events of `batch`-event messages for each of `workers` workers, `perWorker` events each, numbered apart (generated Event objects). */
function workloadEvents({ run, workers, perWorker, batch, payload, firstIndex = 0 }: WorkloadOptions): Event[][][] {
  return Array.from({ length: workers }, (_, worker) => {
    const messages: Event[][] = [];
    const first = firstIndex + worker * perWorker;
    for (let start = 0; start < perWorker; start += batch) {
      const events: Event[] = [];
      for (let i = start; i < Math.min(perWorker, start + batch); i++) events.push(toProtoEvent(benchEvent(run, first + i), payload));
      messages.push(events);
    }
    return messages;
  });
}

/** workloadEvents' messages encoded (IngestStreamRequest, the generated codec). */
function encodeWorkload(options: WorkloadOptions): EncodedMessage[][] {
  return workloadEvents(options).map((messages) => messages.map(encodeMessage));
}

setFlagsFromString('--expose-gc');
/** A full garbage collection (V8's gc(), exposed without a command-line flag). */
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Settles the heap before a clock starts: what was built for the run (the
 * encoded messages, the SDK's event objects) is collected or moved to the old
 * generation now, so that no path pays for copying the other's set-up in the
 * young-generation collections of its timed part.
 */
function settleHeap(): void {
  collectGarbage();
}

/** This process's CPU time (user + system) since `since`, in ms. */
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function sourceOf(workload: EncodedMessage[][]): (worker: number) => EncodedMessage | undefined {
  const positions = workload.map(() => 0);
  return (worker) => workload[worker]![positions[worker]!++];
}

/** Like sourceOf, each message encoded as it is taken. */
function encodingSourceOf(workload: Event[][][]): (worker: number) => EncodedMessage | undefined {
  const positions = workload.map(() => 0);
  return (worker) => {
    const events = workload[worker]![positions[worker]!++];
    return events === undefined ? undefined : encodeMessage(events);
  };
}

/** What an ingest job did, as the client saw it. */
export interface IngestOutcome {
  readonly events: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly calls: number;
  /** Calls by status code name ("OK", "UNAVAILABLE", ...). */
  readonly codes: Record<string, number>;
  readonly elapsedMs: number;
  readonly eventsPerSecond: number;
  readonly callLatencyMs: LatencySummary;
  /** This process's CPU time during the timed part (the client's cost; set by vaultIngest and vaultCallers). */
  readonly clientCpuMs?: number;
}

function outcome(stats: LoadStats, elapsedMs: number): IngestOutcome {
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

export interface VaultIngestParams {
  readonly target: string;
  readonly keys: readonly string[];
  readonly run: string;
  readonly streams: number;
  readonly batch: number;
  readonly payload: PayloadMode;
  readonly count: number;
  readonly eventsPerCall: number;
  /**
   * Each message encoded (the generated codec) when its worker sends it,
   * inside the clock, from generated Event objects built before it: what an
   * application using the generated client does. Default: every message
   * encoded before the clock (the transport's and server's rate alone).
   */
  readonly encodeInClock?: boolean;
}

/** IngestStream as fast as the server takes it: `streams` streams, `count` events in all. */
async function vaultIngest({ target, keys, run, streams, batch, payload, count, eventsPerCall, encodeInClock = false }: VaultIngestParams): Promise<IngestOutcome> {
  const perWorker = Math.ceil(count / streams);
  const options = { run, workers: streams, perWorker, batch, payload };
  const next = encodeInClock ? encodingSourceOf(workloadEvents(options)) : sourceOf(encodeWorkload(options));
  const client = createIngestClient(target);
  try {
    settleHeap();
    const cpu = process.cpuUsage();
    const { stats, elapsedMs } = await runIngestLoad(client, {
      mode: 'stream',
      workers: streams,
      eventsPerSecond: 0,
      messagesPerCall: Math.max(1, Math.round(eventsPerCall / batch)),
      next,
      keyFor: (worker) => keys[worker % keys.length]!,
    });
    return { ...outcome(stats, elapsedMs), clientCpuMs: cpuMsSince(cpu) };
  } finally {
    client.close();
  }
}

export interface FollowedIngestParams extends VaultIngestParams {
  /** Followers of keys[0]'s tenant, all with one filter (event type "log"): 0 = none. */
  readonly followers: number;
}

/** vaultIngest while `followers` follow the first tenant's "log" events (live tail). */
function followedIngest(params: FollowedIngestParams): Promise<FollowersOutcome<IngestOutcome>> {
  return withFollowers(params.target, params.keys[0]!, params.followers, params.run, () => vaultIngest(params));
}

export interface VaultLatencyParams {
  readonly target: string;
  readonly keys: readonly string[];
  readonly run: string;
  readonly batch: number;
  readonly payload: PayloadMode;
  readonly rate: number;
  readonly durationMs: number;
}

/** Unary Ingest calls of `batch` events at `rate` events/s in all (open loop), for `durationMs`: acknowledgement latency per message. */
async function vaultLatency({ target, keys, run, batch, payload, rate, durationMs }: VaultLatencyParams): Promise<IngestOutcome> {
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
      keyFor: (worker) => keys[worker]!,
    });
    return outcome(stats, elapsedMs);
  } finally {
    client.close();
  }
}

export interface VaultCallersParams {
  readonly target: string;
  readonly keys: readonly string[];
  readonly run: string;
  readonly callers: number;
  readonly batch: number;
  readonly payload: PayloadMode;
  /** Events encoded for the run: it ends when they are sent or after `durationMs` (when given), whichever comes first. */
  readonly count: number;
  readonly durationMs?: number;
  /** The bench's events (default), or the events the OTLP mapping makes of otlpIngest's requests: what the OTLP rows store, sent as native payload_json events. */
  readonly events?: 'bench' | 'otlp';
  /** The callers' gRPC client: @grpc/grpc-js's (the default), or the lean one on node:http2 (h2-unary-client.ts). */
  readonly client?: 'grpc-js' | 'http2';
}

/**
 * Unary Ingest calls of `batch` events from `callers` concurrent callers,
 * each a closed loop (its next call leaves when the last one answered), the
 * callers spread over the tenants' keys, as fast as the server takes them.
 */
async function vaultCallers({ target, keys, run, callers, batch, payload, count, durationMs, events = 'bench', client: clientKind = 'grpc-js' }: VaultCallersParams): Promise<IngestOutcome> {
  const perWorker = Math.ceil(count / callers / batch) * batch;
  const workload = events === 'otlp' ? encodeOtlpEventsWorkload(run, callers, perWorker, batch) : encodeWorkload({ run, workers: callers, perWorker, batch, payload });
  const client = clientKind === 'http2' ? createH2IngestClient(target) : createIngestClient(target);
  try {
    settleHeap();
    const cpu = process.cpuUsage();
    const { stats, elapsedMs } = await runIngestLoad(client, {
      mode: 'unary',
      workers: callers,
      eventsPerSecond: 0,
      maxInFlight: 1,
      durationMs,
      next: sourceOf(workload),
      keyFor: (worker) => keys[worker % keys.length]!,
    });
    return { ...outcome(stats, elapsedMs), clientCpuMs: cpuMsSince(cpu) };
  } finally {
    client.close();
  }
}

function keyed(key: string): Metadata {
  const metadata = new Metadata();
  metadata.set('x-api-key', key);
  return metadata;
}

type QueryMethod = 'queryEvents' | 'aggregate';
type BytesCallback = (error: ServiceError | null, response: Buffer) => void;

/** QueryService's unary calls, answering with the response's bytes (decoded after the clock stops). */
interface RawQueryClient extends Client {
  queryEvents(request: QueryEventsRequest, metadata: Metadata, callback: BytesCallback): ClientUnaryCall;
  aggregate(request: AggregateRequest, metadata: Metadata, callback: BytesCallback): ClientUnaryCall;
}

/** QueryService's StreamEvents, answering with each response message's bytes. */
interface RawStreamClient extends Client {
  streamEvents(request: StreamEventsRequest, metadata: Metadata): ClientReadableStream<Buffer>;
}

function unaryCall(client: RawQueryClient, method: QueryMethod, request: QueryEventsRequest | AggregateRequest, key: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const callback: BytesCallback = (error, response) => (error ? reject(error) : resolve(response));
    if (method === 'queryEvents') client.queryEvents(request as QueryEventsRequest, keyed(key), callback);
    else client.aggregate(request as AggregateRequest, keyed(key), callback);
  });
}

/** One kind of query, timed: its requests are sent in turn. */
export interface QueryCase {
  readonly label: string;
  readonly method: QueryMethod;
  readonly requests: readonly Record<string, unknown>[];
  /** When given, the first event of request i's page must be firstEventIds[i] (so that a mis-built cursor cannot pass). */
  readonly firstEventIds?: readonly string[];
}

export interface TimedQueriesParams {
  readonly target: string;
  readonly key: string;
  readonly cases: readonly QueryCase[];
  readonly samples: number;
}

/** A query case's latencies, and how many rows its last answer held. */
export type QueryTiming = LatencySummary & { readonly rows: number };

/**
 * Timed QueryEvents / Aggregate calls: each case's requests in turn, `samples`
 * calls per case. `firstEventIds[i]`, when given, is checked against the
 * first event of request i's page (so a mis-built cursor cannot pass).
 */
async function timedQueries({ target, key, cases, samples }: TimedQueriesParams): Promise<Record<string, QueryTiming>> {
  // Responses are timed to their last byte and decoded after the clock stops:
  // the figure is the server's answer time, not this process's decoder.
  const passThrough = (bytes: Buffer): Buffer => bytes;
  const Client = makeGenericClientConstructor(
    {
      queryEvents: { ...QueryServiceService.queryEvents, responseDeserialize: passThrough },
      aggregate: { ...QueryServiceService.aggregate, responseDeserialize: passThrough },
    },
    'telemetry.v1.QueryService',
  );
  const client = new Client(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as RawQueryClient;
  try {
    const results: Record<string, QueryTiming> = {};
    for (const testCase of cases) {
      const latency = new Histogram();
      let rows = 0;
      for (let sample = 0; sample < samples; sample++) {
        const which = sample % testCase.requests.length;
        const partial = testCase.requests[which]!;
        const request = testCase.method === 'queryEvents' ? QueryEventsRequest.fromPartial(partial) : AggregateRequest.fromPartial(partial);
        const startedAt = performance.now();
        const bytes = await unaryCall(client, testCase.method, request, key);
        latency.record(performance.now() - startedAt);
        if (testCase.method === 'queryEvents') {
          const response = QueryEventsResponse.decode(bytes);
          const expected = testCase.firstEventIds?.[which];
          if (expected !== undefined && response.events[0]?.eventId !== expected) {
            throw new Error(`${testCase.label}: page ${which} starts with ${response.events[0]?.eventId}, expected ${expected}`);
          }
          rows = response.events.length;
        } else {
          rows = AggregateResponse.decode(bytes).rows.length;
        }
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
function countEvents(buffer: Buffer): number {
  let offset = 0;
  let count = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = buffer[offset++]!;
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

export interface StreamEventsParams {
  readonly target: string;
  readonly key: string;
  readonly payloadAsJson: boolean;
  readonly expectedEvents?: number;
}

export interface StreamOutcome {
  readonly events: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly eventsPerSecond: number;
}

/** StreamEvents of the whole tenant: events/s as the client receives them. */
async function streamEvents({ target, key, payloadAsJson, expectedEvents }: StreamEventsParams): Promise<StreamOutcome> {
  const Client = makeGenericClientConstructor({ streamEvents: { ...QueryServiceService.streamEvents, responseDeserialize: (bytes: Buffer) => bytes } }, 'telemetry.v1.QueryService');
  const client = new Client(target, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as RawStreamClient;
  const request = StreamEventsRequest.fromPartial({ order: 1, payloadAsJson });
  try {
    const startedAt = performance.now();
    let events = 0;
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      const call = client.streamEvents(request, keyed(key));
      call.on('data', (chunk: Buffer) => {
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

export interface OtlpIngestParams {
  readonly target: string;
  readonly keys: readonly string[];
  readonly run: string;
  /** Concurrent exporters, each sending its next request once the last one is answered. */
  readonly streams: number;
  /** Log records per Export request. */
  readonly batch: number;
  readonly count: number;
}

/** What an OTLP ingest job did, as the exporters saw it. */
export interface OtlpOutcome {
  /** Records of the requests answered OK. */
  readonly events: number;
  readonly calls: number;
  /** Calls by status code name ("OK", "UNAVAILABLE", ...). */
  readonly codes: Record<string, number>;
  readonly elapsedMs: number;
  readonly eventsPerSecond: number;
  readonly callLatencyMs: LatencySummary;
}

/** A LogRecord as the bench builds it: the fields it sets (the encoder gives the rest their defaults). */
type BenchLogRecord = Pick<ExportLogsRequest['resourceLogs'][number]['scopeLogs'][number]['logRecords'][number], 'timeUnixNano' | 'severityText' | 'body' | 'attributes'>;

const stringValue = (value: string): AnyValue => ({ value: { case: 'stringValue', value } });
const intValue = (value: number): AnyValue => ({ value: { case: 'intValue', value: BigInt(value) } });

/** Bench event `i` as an OTLP log record: the same payload fields, as attributes; the event id in `run` keeps records apart. */
function toLogRecord(run: string, i: number): { record: BenchLogRecord; serviceName: string } {
  const event = benchEvent(run, i);
  const p = event.payload as { level: string; message: string; http: { method: string; path: string; status: number }; user_id: string; region: string; duration_ms: number };
  const record: BenchLogRecord = {
    timeUnixNano: BigInt(event.timestampMicros) * 1000n,
    severityText: p.level,
    body: stringValue(p.message),
    attributes: [
      { key: 'run', value: stringValue(event.eventId) },
      { key: 'http.method', value: stringValue(p.http.method) },
      { key: 'http.path', value: stringValue(p.http.path) },
      { key: 'http.status', value: intValue(p.http.status) },
      { key: 'user_id', value: stringValue(p.user_id) },
      { key: 'region', value: stringValue(p.region) },
      { key: 'duration_ms', value: intValue(p.duration_ms) },
    ],
  };
  return { record, serviceName: event.serviceName };
}

/** Bench events `first`.. `first + count - 1` as one ExportLogsServiceRequest: one resource (the first event's service), one scope. */
export function benchLogsRequest(run: string, first: number, count: number): { request: { resourceLogs: ExportLogsRequest['resourceLogs'][number][] }; records: number } {
  const records: BenchLogRecord[] = [];
  let serviceName: string | undefined;
  for (let i = first; i < first + count; i++) {
    const built = toLogRecord(run, i);
    serviceName ??= built.serviceName;
    records.push(built.record);
  }
  const request = {
    resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: stringValue(serviceName!) }] }, scopeLogs: [{ scope: { name: 'bench', version: '1', attributes: [] }, logRecords: records }] }],
  };
  return { request: request as never, records: records.length };
}

/**
 * The events the vault's OTLP mapping (logs-to-events.ts, the server's own
 * code) makes of the requests otlpIngest sends for these records, as
 * native payload_json events in IngestRequest messages of `batch`: the
 * payloads, ids, times, types and services the OTLP rows store.
 */
function encodeOtlpEventsWorkload(run: string, workers: number, perWorker: number, batch: number): EncodedMessage[][] {
  const receivedAtNanos = BigInt(Date.now()) * 1_000_000n;
  return encodeLogsRequests(run, workers, perWorker, batch).map((requests) =>
    requests.map(({ bytes }) => {
      const mapped = logsToEvents(bytes, receivedAtNanos);
      if (mapped === undefined) throw new Error('the OTLP fast path refused a bench request');
      const events = mapped.events.map((event): Event => ({
        eventId: event.eventId,
        timestamp: event.timestamp,
        eventType: event.eventType,
        serviceName: event.serviceName,
        payloadJson: Buffer.from(event.payloadJson as Uint8Array).toString('utf8'),
        receivedAt: undefined,
      }));
      return encodeMessage(events);
    }),
  );
}

interface EncodedExport {
  readonly bytes: Buffer;
  readonly records: number;
}

/** For each of `workers` exporters, its `perWorker` records (a block of the bench's events of its own) as encoded ExportLogsServiceRequests of `batch`. */
function encodeLogsRequests(run: string, workers: number, perWorker: number, batch: number): EncodedExport[][] {
  const schema = OTLP_SCHEMAS.logs.request;
  return Array.from({ length: workers }, (_, worker) => {
    const requests: EncodedExport[] = [];
    const first = worker * perWorker;
    for (let start = 0; start < perWorker; start += batch) {
      const { request, records } = benchLogsRequest(run, first + start, Math.min(perWorker, start + batch) - start);
      requests.push({ bytes: Buffer.from(toBinary(schema, create(schema, request))), records });
    }
    return requests;
  });
}

/**
 * OTLP logs over gRPC (LogsService/Export, unary), as an OpenTelemetry SDK's
 * batch processor sends them: `batch` records per request (512, the SDK's
 * default), `streams` exporters each sending its next request once the last
 * one is answered. The records are the bench events (the same payload
 * fields, as attributes), one resource (service) per request. Requests are
 * encoded before the clock starts, as vaultIngest's messages are.
 */
async function otlpIngest({ target, keys, run, streams, batch, count }: OtlpIngestParams): Promise<OtlpOutcome> {
  const method = `/${OTLP_SCHEMAS.logs.service}/Export`;
  const workload = encodeLogsRequests(run, streams, Math.ceil(count / streams), batch);
  const client = new Client(target, credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  const latency = new Histogram();
  const codes: Record<string, number> = {};
  let events = 0;
  let calls = 0;
  const passThrough = (bytes: Buffer): Buffer => bytes;
  const startedAt = performance.now();
  try {
    await Promise.all(
      workload.map(async (requests, worker) => {
        for (const { bytes, records } of requests) {
          const sentAt = performance.now();
          const code = await new Promise<string>((resolve) => {
            client.makeUnaryRequest(method, passThrough, passThrough, bytes, keyed(keys[worker % keys.length]!), (error) =>
              resolve(error ? ((status as unknown as Record<number, string>)[error.code] ?? String(error.code)) : 'OK'),
            );
          });
          latency.record(performance.now() - sentAt);
          codes[code] = (codes[code] ?? 0) + 1;
          calls++;
          if (code === 'OK') events += records;
        }
      }),
    );
    const elapsedMs = performance.now() - startedAt;
    return { events, calls, codes, elapsedMs, eventsPerSecond: events / (elapsedMs / 1000), callLatencyMs: latency.summary() };
  } finally {
    client.close();
  }
}

export interface SdkIngestParams {
  readonly target: string;
  readonly keys: readonly string[];
  readonly run: string;
  readonly ingesters: number;
  readonly count: number;
  /** Another build of the client to load instead (a path to its dist/), to compare two builds in one run. */
  readonly clientModule?: string;
  /** Ingester options (default: none, the client's defaults), to compare settings in one run. */
  readonly ingesterOptions?: IngesterOptions;
}

/** What the client's ingesters counted, summed. */
export interface SdkOutcome {
  /** Events the server acknowledged as stored (accepted or duplicates). */
  readonly events: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly retried: number;
  /** { OK: 1 } when no event failed, else { FAILED: events dropped }. */
  readonly codes: Record<string, number>;
  readonly elapsedMs: number;
  readonly eventsPerSecond: number;
  /** This process's CPU time during the timed part (the client's cost). */
  readonly clientCpuMs: number;
  /** IngestStream calls the ingesters opened (attempts, retries included). */
  readonly calls: number;
  /** Stream messages they wrote. */
  readonly messages: number;
}

/**
 * The Node.js client (clients/node, as built to its dist/): `ingesters`
 * ingesters, each on its own VaultClient and tenant key, adding `count`
 * events in all. Unlike vaultIngest, the timed part includes what the client
 * costs an application: batching, encoding, stream cycling and waiting for
 * every acknowledgement (close()).
 */
async function sdkIngest({ target, keys, run, ingesters, count, clientModule, ingesterOptions }: SdkIngestParams): Promise<SdkOutcome> {
  const perIngester = Math.ceil(count / ingesters);
  const SdkClient = clientModule === undefined ? VaultClient : (require(clientModule) as { VaultClient: typeof VaultClient }).VaultClient;
  const clients = Array.from({ length: ingesters }, (_, i) => new SdkClient({ address: target, apiKey: keys[i % keys.length]! }));
  // Calls and messages, counted on the way out (the client's ingest stub, wrapped): what the server sees.
  let calls = 0;
  let messages = 0;
  for (const client of clients) {
    const stub = (client as unknown as { ingestClient: { ingestStream: (...args: unknown[]) => { write: (...args: unknown[]) => boolean } } }).ingestClient;
    const open = stub.ingestStream.bind(stub);
    stub.ingestStream = (...args: unknown[]) => {
      calls++;
      const call = open(...args);
      const write = call.write.bind(call);
      call.write = (...writeArgs: unknown[]) => {
        messages++;
        return write(...writeArgs);
      };
      return call;
    };
  }
  // The application's events exist before the clock starts (as the raw path's messages do); add() onwards is timed.
  const inputs = clients.map((_, worker) => {
    const list: EventInput[] = [];
    for (let i = worker * perIngester; i < Math.min(count, (worker + 1) * perIngester); i++) {
      const event = benchEvent(run, i);
      list.push({ eventId: event.eventId, timestamp: new Date(event.timestampMicros / 1000), eventType: event.eventType, serviceName: event.serviceName, payloadJson: event.payloadJson });
    }
    return list;
  });
  settleHeap();
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  try {
    const counters = await Promise.all(
      clients.map(async (client, worker) => {
        const ingester = client.ingester(ingesterOptions);
        for (const input of inputs[worker]!) await ingester.add(input);
        await ingester.close();
        return ingester.counters;
      }),
    );
    const elapsedMs = performance.now() - startedAt;
    const clientCpuMs = cpuMsSince(cpu);
    const sum = (field: keyof IngesterCounters): number => counters.reduce((total, c) => total + c[field], 0);
    const codes: Record<string, number> = sum('failed') > 0 ? { FAILED: sum('failed') } : { OK: 1 };
    return { events: sum('accepted') + sum('duplicates'), accepted: sum('accepted'), duplicates: sum('duplicates'), rejected: sum('rejected'), retried: sum('retried'), codes, elapsedMs, eventsPerSecond: count / (elapsedMs / 1000), clientCpuMs, calls, messages };
  } finally {
    for (const client of clients) client.close();
  }
}

const JOBS = { ceiling: runCeiling, naive: runNaive, loadEvents, vaultIngest, vaultLatency, vaultCallers, otlpIngest, sdkIngest, timedQueries, streamEvents, followLatency, followedIngest };

/** The jobs this process runs, by name: run-bench.ts types its requests with this. */
export type LoadGeneratorJobs = typeof JOBS;

/** One job request over IPC. */
export interface JobRequest {
  readonly id: number;
  readonly job: keyof LoadGeneratorJobs;
  readonly params: unknown;
}

/** The answer to a job request: its result, or the error's stack. */
export interface JobReply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

process.on('message', async ({ id, job, params }: JobRequest) => {
  let reply: JobReply;
  try {
    reply = { id, result: await (JOBS[job] as (params: unknown) => Promise<unknown>)(params) };
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.stack : String(error) };
  }
  process.send!(reply);
});
