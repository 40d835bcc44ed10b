/**
 * `node -r ./scripts/register-ts.js scripts/bench/otlp-decode-micro.ts`: the
 * server's CPU per OTLP log record for decoding and mapping a bench request
 * (512 records, load-generator's otlpIngest shape) and validating its events
 * as native ingest does, by the general path (decodeLogsRequest + mapLogs)
 * and by the wire-bytes fast path (logs-to-events.ts), interleaved in one
 * process so that both see the same machine. Prints microseconds per record.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { mapLogs } from '../../src/domain/otlp/map-otlp';
import { EventValidator } from '../../src/domain/ingest/event-validator';
import { decodeLogsRequest } from '../../src/transport/otlp/decode-logs-request';
import { logsToEvents } from '../../src/transport/otlp/logs-to-events';
import { OTLP_SCHEMAS } from '../../src/transport/otlp/otlp-schemas';
import { benchLogsRequest } from './load-generator';

const RECORDS = 512;
const schema = OTLP_SCHEMAS.logs.request;
const bytes = toBinary(schema, create(schema, benchLogsRequest('micro', 0, RECORDS).request as never));
const validator = new EventValidator({ maxPayloadBytes: 64 * 1024, maxPayloadDepth: 32, maxFutureSkewMs: 3_600_000 });
const now = BigInt(Date.now()) * 1_000_000n;

const paths = {
  general: (): number => mapLogs(decodeLogsRequest(bytes), now).events.reduce((n, event) => n + (typeof validator.validate(event) === 'string' ? 0 : 1), 0),
  'wire bytes': (): number => logsToEvents(bytes, now)!.events.reduce((n, event) => n + (typeof validator.validate(event) === 'string' ? 0 : 1), 0),
};

const cpu = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};
const totals: Record<string, number> = { general: 0, 'wire bytes': 0 };
const ROUNDS = 10;
const CALLS = 200;
for (let round = 0; round < ROUNDS + 2; round++) {
  for (const [name, run] of Object.entries(paths)) {
    const start = cpu();
    for (let i = 0; i < CALLS; i++) if (run() !== RECORDS) throw new Error(`${name}: not every record was valid`);
    // The first two rounds warm up.
    if (round >= 2) totals[name]! += cpu() - start;
  }
}
const perRecord = (name: string): number => totals[name]! / (ROUNDS * CALLS * RECORDS);
for (const name of Object.keys(paths)) process.stdout.write(`${name}: ${perRecord(name).toFixed(2)} us CPU per record (decode, map, validate)\n`);
process.stdout.write(`wire bytes / general: ${(perRecord('wire bytes') / perRecord('general')).toFixed(2)}x\n`);
