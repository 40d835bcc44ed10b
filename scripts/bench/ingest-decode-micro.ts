/**
 * `node -r ./scripts/register-ts.js scripts/bench/ingest-decode-micro.ts [--payload json|struct] [--rounds N]`:
 * the server's CPU per event for what it does to each event of an
 * IngestStream message in one process, without gRPC or PostgreSQL: decoding
 * a bench message of 1000 events (load-generator's shape, encoded by the
 * generated codec), validating each event, gathering them into a batch and
 * encoding the batch as COPY text. Prints microseconds per event for each
 * stage and in all (the median of the rounds).
 */
import { parseArgs } from 'node:util';
import { EventBatch } from '../../src/domain/ingest/event-batch';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import type { ValidEvent } from '../../src/domain/ingest/ingest-event';
import { IngestStreamRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { encodeCopyChunks } from '../../src/storage/encode-copy-text';
import { decodeIngestRequest, type DecodedEvent } from '../../src/transport/grpc/wire/decode-ingest-request';
import { benchEvent, toProtoEvent, type PayloadMode } from './event-shape';

const { values } = parseArgs({ options: { payload: { type: 'string', default: 'struct' }, rounds: { type: 'string', default: '15' }, messages: { type: 'string', default: '20' } } });
const payload = values.payload as PayloadMode;
const EVENTS = 1000;
const messages = Array.from({ length: Number(values.messages) }, (_, m) =>
  IngestStreamRequest.encode({ events: Array.from({ length: EVENTS }, (_, i) => toProtoEvent(benchEvent('micro', m * EVENTS + i), payload)) }).finish(),
);
const validator = new EventValidator({ maxPayloadBytes: 64 * 1024, maxPayloadDepth: 32, maxFutureSkewMs: 3_600_000 });

const cpu = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
const stages = { decode: [] as number[], validate: [] as number[], copy: [] as number[], total: [] as number[] };
const median = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const rounds = Number(values.rounds);
for (let round = 0; round < rounds + 3; round++) {
  let decode = 0;
  let validate = 0;
  let copy = 0;
  for (const bytes of messages) {
    const t0 = cpu();
    const decoded: DecodedEvent[] = decodeIngestRequest(bytes, 32).events;
    const t1 = cpu();
    const batch = new EventBatch(2000, 64 * 1024 * 1024);
    for (const event of decoded) {
      const valid = validator.validate(event);
      if (typeof valid === 'string') throw new Error(valid);
      batch.add(valid);
    }
    const t2 = cpu();
    const chunks = encodeCopyChunks([batch.events as ValidEvent[]]);
    if (chunks.length === 0) throw new Error('no COPY text');
    const t3 = cpu();
    decode += t1 - t0;
    validate += t2 - t1;
    copy += t3 - t2;
  }
  // The first three rounds warm up.
  if (round < 3) continue;
  const events = messages.length * EVENTS;
  stages.decode.push(decode / events);
  stages.validate.push(validate / events);
  stages.copy.push(copy / events);
  stages.total.push((decode + validate + copy) / events);
}
process.stdout.write(
  `${payload}: ${Object.entries(stages)
    .map(([name, list]) => `${name} ${median(list).toFixed(2)}`)
    .join(', ')} us CPU per event (medians of ${rounds} rounds)\n`,
);
