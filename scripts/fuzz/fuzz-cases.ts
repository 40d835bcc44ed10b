import { AggregateRequest, QueryEventsRequest, StreamEventsRequest } from '../../src/gen/telemetry/v1/query_service';
import type { CaseContext, FuzzCase } from './fuzz-case';
import { ingestGroupCases, manyEventsCases, messageSizeCases } from './ingest-cases';
import { allMetadataCases } from './metadata-cases';
import type { Prng } from './prng';
import { queryCases } from './query-cases';
import { randomCases } from './random-cases';

/**
 * Every fuzz case, for the CI test and the hand-run mode alike: `count`
 * random and mutated requests per RPC, then (with `targeted`) the named cases:
 * bad events mixed with valid ones, 100 000 events in one message, messages
 * at and over the size limit, wrong metadata, garbage cursors and filters.
 */
export function fuzzCases(prng: Prng, ctx: CaseContext, options: { readonly count: number; readonly targeted: boolean }): FuzzCase[] {
  const cases = randomCases(prng.fork('random'), options.count, ctx);
  if (options.targeted) cases.push(...targetedCases(prng.fork('targeted'), ctx));
  return cases;
}

/** The named cases alone. */
export function targetedCases(prng: Prng, ctx: CaseContext): FuzzCase[] {
  const filter = { startTime: undefined, endTime: undefined, eventTypes: ['log'], serviceNames: [], payloadContains: undefined };
  const sizeBases = {
    QueryEvents: QueryEventsRequest.encode({ filter, limit: 10, cursor: '', page: 0, order: 0, payloadAsJson: false }).finish(),
    StreamEvents: StreamEventsRequest.encode({ filter, order: 0, maxEvents: 10, payloadAsJson: true, follow: false }).finish(),
    Aggregate: AggregateRequest.encode({ filter, groupBy: [1], bucket: { seconds: 3600, nanos: 0 } }).finish(),
  };
  return [...ingestGroupCases(ctx), ...manyEventsCases(ctx), ...messageSizeCases(ctx, sizeBases), ...allMetadataCases(ctx), ...queryCases(prng, ctx)];
}
