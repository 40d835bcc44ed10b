import type { Event } from '../../src/gen/telemetry/v1/event';
import { IngestRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { AggregateRequest, QueryEventsRequest, StreamEventsRequest, type EventFilter } from '../../src/gen/telemetry/v1/query_service';
import { FUZZ_RPCS, type CaseContext, type FuzzCase, type FuzzRpc } from './fuzz-case';
import { mutateBytes } from './mutate-bytes';
import type { Prng } from './prng';

/** Undecodable bytes and valid requests both answer one of these; anything else is a bug (or load). */
const ANY_INPUT = ['OK', 'INVALID_ARGUMENT'] as const;

/**
 * `count` cases per RPC: half fully random bytes, half mutations of valid
 * requests encoded by the generated (ts-proto) encoders.
 */
export function randomCases(prng: Prng, count: number, ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const rpc of FUZZ_RPCS) {
    const random = prng.fork(`random ${rpc}`);
    const mutation = prng.fork(`mutation ${rpc}`);
    for (let i = 0; i < count; i++) {
      cases.push(i % 2 === 0 ? randomBytesCase(random, rpc, i) : mutationCase(mutation, rpc, i, ctx));
    }
  }
  return cases;
}

function randomBytesCase(prng: Prng, rpc: FuzzRpc, index: number): FuzzCase {
  const messages = Array.from({ length: rpc === 'IngestStream' ? prng.between(1, 3) : 1 }, () => prng.bytes(prng.length(4096)));
  return { name: `${rpc} #${index}: random bytes (${messages.map((m) => m.length).join(' + ')} bytes)`, kind: 'random', rpc, messages, expect: ANY_INPUT };
}

function mutationCase(prng: Prng, rpc: FuzzRpc, index: number, ctx: CaseContext): FuzzCase {
  const count = rpc === 'IngestStream' ? prng.between(1, 3) : 1;
  const hows: string[] = [];
  const messages = Array.from({ length: count }, (_, m) => {
    const valid = validRequest(prng, rpc, `${ctx.idPrefix}-mut-${rpc}-${index}-${m}`, ctx);
    // Leave a stream's message valid now and then, so that a bad message follows good ones.
    if (count > 1 && prng.chance(0.3)) {
      hows.push('valid');
      return valid;
    }
    const mutated = mutateBytes(prng, valid);
    hows.push(mutated.how);
    return mutated.bytes;
  });
  return { name: `${rpc} #${index}: mutated valid request (${hows.join('; ')})`, kind: 'mutation', rpc, messages, expect: ANY_INPUT };
}

/** A valid request of the RPC, encoded by the generated encoders, with some fields set at random. */
export function validRequest(prng: Prng, rpc: FuzzRpc, idPrefix: string, ctx: CaseContext): Uint8Array {
  switch (rpc) {
    case 'Ingest':
    case 'IngestStream':
      return IngestRequest.encode({ events: Array.from({ length: prng.between(1, 6) }, (_, i) => validEvent(prng, `${idPrefix}-${i}`, ctx.nowSeconds)) }).finish();
    case 'QueryEvents':
      return QueryEventsRequest.encode({
        filter: filter(prng, ctx.nowSeconds),
        limit: prng.between(0, 50),
        cursor: '',
        page: prng.chance(0.3) ? prng.between(1, 3) : 0,
        order: prng.int(3),
        payloadAsJson: prng.chance(0.5),
      }).finish();
    case 'StreamEvents':
      return StreamEventsRequest.encode({ filter: filter(prng, ctx.nowSeconds), order: prng.int(3), maxEvents: prng.between(0, 100), payloadAsJson: prng.chance(0.5), follow: false }).finish();
    case 'Aggregate':
      return AggregateRequest.encode({
        filter: filter(prng, ctx.nowSeconds),
        groupBy: [1, 2].filter(() => prng.chance(0.5)),
        bucket: prng.chance(0.5) ? { seconds: prng.pick([1, 60, 3600, 86400]), nanos: 0 } : undefined,
      }).finish();
  }
}

function validEvent(prng: Prng, eventId: string, nowSeconds: number): Event {
  const struct = prng.chance(0.5);
  const body = { level: prng.pick(['info', 'warn', 'error']), n: prng.int(1000), tags: ['a', 'b'], nested: { ok: true, none: null } };
  return {
    eventId,
    timestamp: { seconds: nowSeconds - prng.int(3600), nanos: prng.int(1_000_000_000) },
    eventType: prng.pick(['log', 'metric', 'trace']),
    serviceName: prng.pick(['checkout', 'payments', 'fuzz']),
    payload: struct ? body : undefined,
    payloadJson: struct ? undefined : JSON.stringify(body),
    receivedAt: undefined,
  };
}

function filter(prng: Prng, nowSeconds: number): EventFilter | undefined {
  if (prng.chance(0.2)) return undefined;
  return {
    startTime: prng.chance(0.5) ? { seconds: nowSeconds - 7200, nanos: prng.int(1_000_000_000) } : undefined,
    endTime: prng.chance(0.5) ? { seconds: nowSeconds + 60, nanos: 0 } : undefined,
    eventTypes: prng.chance(0.5) ? ['log', 'metric'] : [],
    serviceNames: prng.chance(0.3) ? ['checkout'] : [],
    payloadContains: prng.chance(0.3) ? { level: 'info' } : undefined,
  };
}
