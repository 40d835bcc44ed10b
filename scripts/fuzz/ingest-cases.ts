import { eventBytes, ingestMessage, structBytes, validEvent, type RawEvent } from './event-bytes';
import type { CaseContext, FuzzCase } from './fuzz-case';
import { concat, deepStruct, lengthDelimited, padTo, varintField } from './wire-bytes';

/** One event of a targeted message, and whether the contract's rules accept it. */
interface Labelled {
  readonly label: string;
  readonly event: RawEvent;
  readonly valid: boolean;
}

/** Events of a group, given a maker of fresh event ids (each RPC variant gets ids of its own). */
type Group = (id: (label: string) => string, ctx: CaseContext) => Labelled[];

const PRINTABLE_ASCII = /^[\x20-\x7e]{1,128}$/;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

const bytes = (...values: (string | number[])[]): Uint8Array => concat(values.map((value) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : Uint8Array.from(value))));

/** A string this long fills a good part of a message without going over the size limit even six times over. */
const hugeLength = (ctx: CaseContext): number => Math.min(1 << 20, Math.floor(ctx.limits.maxMessageBytes / 8));

/**
 * Well-formed ingest messages that mix valid events with bad ones: huge
 * strings, deep payloads, invalid UTF-8, NUL bytes, out-of-range timestamps,
 * payloads PostgreSQL cannot store. Each group goes as one Ingest message and
 * as an IngestStream of two messages; each call must be OK with every valid
 * event stored and every bad one rejected alone.
 */
export const INGEST_GROUPS: Readonly<Record<string, Group>> = {
  'huge strings in every string field': (id, ctx) => {
    const huge = 'x'.repeat(hugeLength(ctx));
    const { maxPayloadBytes } = ctx.limits;
    const now = ctx.nowSeconds;
    // payload_json exactly at the size limit as stored: jsonb prints {"p":"yyy..."} as {"p": "yyy..."}, 9 bytes plus the string.
    const atLimit = `{"p":"${'y'.repeat(maxPayloadBytes - 9)}"}`;
    return [
      { label: 'event_id of 128 characters', event: validEvent(id('max').padEnd(128, 'i'), now), valid: true },
      { label: 'event_id of 129 characters', event: validEvent(id('over').padEnd(129, 'i'), now), valid: false },
      { label: 'huge event_id', event: validEvent(huge, now), valid: false },
      { label: 'huge event_type', event: validEvent(id('type'), now, { eventType: huge }), valid: false },
      { label: 'event_type of 64 characters', event: validEvent(id('type64'), now, { eventType: 'l'.repeat(64) }), valid: true },
      { label: 'huge service_name', event: validEvent(id('service'), now, { serviceName: huge }), valid: false },
      { label: 'service_name of 128 characters', event: validEvent(id('service128'), now, { serviceName: 's'.repeat(128) }), valid: true },
      { label: 'huge string in payload_json', event: validEvent(id('json'), now, { payloadJson: `{"p":"${huge}"}` }), valid: false },
      { label: 'payload_json at the size limit', event: validEvent(id('json-limit'), now, { payloadJson: atLimit }), valid: true },
      { label: 'payload_json one byte over the size limit', event: validEvent(id('json-over'), now, { payloadJson: `{"p":"${'y'.repeat(maxPayloadBytes - 8)}"}` }), valid: false },
      { label: 'huge string in a Struct payload', event: validEvent(id('struct'), now, { payloadJson: undefined, payload: structBytes({ p: huge }) }), valid: false },
      { label: 'huge key in a Struct payload', event: validEvent(id('key'), now, { payloadJson: undefined, payload: structBytes({ [huge]: 1 }) }), valid: false },
      { label: 'plain valid event', event: validEvent(id('plain'), now), valid: true },
    ];
  },
  'payloads nested 10 000 levels deep': (id, ctx) => {
    const depth = ctx.limits.maxPayloadDepth;
    const now = ctx.nowSeconds;
    const jsonObjects = (levels: number): string => `${'{"a":'.repeat(levels - 1)}{"leaf":1}${'}'.repeat(levels - 1)}`;
    const jsonLists = (levels: number): string => `{"a":${'['.repeat(levels - 1)}1${']'.repeat(levels - 1)}}`;
    const struct = (payload: Uint8Array): Partial<RawEvent> => ({ payloadJson: undefined, payload });
    return [
      { label: 'Struct of objects 10 000 deep', event: validEvent(id('struct-objects'), now, struct(deepStruct(10_000))), valid: false },
      { label: 'Struct of lists 10 000 deep', event: validEvent(id('struct-lists'), now, struct(deepStruct(10_000, 'lists'))), valid: false },
      { label: `Struct at the depth limit (${depth})`, event: validEvent(id('struct-limit'), now, struct(deepStruct(depth))), valid: true },
      { label: `Struct one level over the depth limit (${depth + 1})`, event: validEvent(id('struct-over'), now, struct(deepStruct(depth + 1))), valid: false },
      { label: 'Struct of lists at the depth limit', event: validEvent(id('struct-lists-limit'), now, struct(deepStruct(depth, 'lists'))), valid: true },
      { label: 'payload_json of objects 10 000 deep', event: validEvent(id('json-objects'), now, { payloadJson: jsonObjects(10_000) }), valid: false },
      { label: 'payload_json of lists 10 000 deep', event: validEvent(id('json-lists'), now, { payloadJson: jsonLists(10_000) }), valid: false },
      { label: 'payload_json at the depth limit', event: validEvent(id('json-limit'), now, { payloadJson: jsonObjects(depth) }), valid: true },
      { label: 'payload_json one level over the depth limit', event: validEvent(id('json-over'), now, { payloadJson: jsonObjects(depth + 1) }), valid: false },
      { label: 'plain valid event', event: validEvent(id('plain'), now), valid: true },
    ];
  },
  'invalid UTF-8 in string fields': (id, ctx) => {
    const now = ctx.nowSeconds;
    // The decoder replaces invalid sequences with U+FFFD: that makes event_id and event_type
    // invalid (not printable ASCII, not [a-z0-9_.:-]) and leaves service_name and strings in payloads valid.
    return [
      { label: 'event_id with 0xFF', event: validEvent(bytes(id('bad-id'), [0xff]), now), valid: false },
      { label: 'event_type with an overlong NUL (C0 80)', event: validEvent(id('type'), now, { eventType: bytes('log', [0xc0, 0x80]) }), valid: false },
      { label: 'service_name with 0xFF', event: validEvent(id('service'), now, { serviceName: bytes('svc-', [0xff]) }), valid: true },
      { label: 'service_name with a UTF-8-encoded surrogate (ED A0 80)', event: validEvent(id('surrogate'), now, { serviceName: bytes('svc-', [0xed, 0xa0, 0x80]) }), valid: true },
      { label: 'service_name with a truncated sequence (E2 82)', event: validEvent(id('truncated'), now, { serviceName: bytes('svc-', [0xe2, 0x82]) }), valid: true },
      { label: 'payload_json with 0xFF inside a string', event: validEvent(id('json-string'), now, { payloadJson: bytes('{"a":"', [0xff, 0xfe], '"}') }), valid: true },
      { label: 'payload_json with 0xFF outside strings', event: validEvent(id('json-outside'), now, { payloadJson: bytes('{"a":', [0xff], '}') }), valid: false },
      { label: 'Struct string with 0xFF', event: validEvent(id('struct-string'), now, { payloadJson: undefined, payload: structWithRawString('v', bytes([0xff, 0x41])) }), valid: true },
      { label: 'Struct key with an overlong NUL (C0 80)', event: validEvent(id('struct-key'), now, { payloadJson: undefined, payload: structWithRawKey(bytes('k', [0xc0, 0x80])) }), valid: true },
      { label: 'plain valid event', event: validEvent(id('plain'), now), valid: true },
    ];
  },
  'NUL in every string field': (id, ctx) => {
    const now = ctx.nowSeconds;
    return [
      { label: 'event_id with NUL', event: validEvent(`${id('id')}\0x`, now), valid: false },
      { label: 'event_type with NUL', event: validEvent(id('type'), now, { eventType: 'log\0' }), valid: false },
      { label: 'service_name with NUL', event: validEvent(id('service'), now, { serviceName: 'svc\0' }), valid: false },
      { label: 'payload_json with a raw NUL in a string', event: validEvent(id('json-raw'), now, { payloadJson: '{"a":"x\0y"}' }), valid: false },
      { label: 'payload_json with a \\u0000 escape', event: validEvent(id('json-escape'), now, { payloadJson: '{"a":"x\\u0000y"}' }), valid: false },
      { label: 'payload_json with a \\u0000 escape in a key', event: validEvent(id('json-key'), now, { payloadJson: '{"\\u0000":1}' }), valid: false },
      { label: 'payload_json with NUL after the object', event: validEvent(id('json-after'), now, { payloadJson: '{"a":1}\0' }), valid: false },
      { label: 'Struct string with NUL', event: validEvent(id('struct-string'), now, { payloadJson: undefined, payload: structBytes({ a: 'x\0y' }) }), valid: false },
      { label: 'Struct key with NUL', event: validEvent(id('struct-key'), now, { payloadJson: undefined, payload: structBytes({ 'k\0': 1 }) }), valid: false },
      { label: 'plain valid event', event: validEvent(id('plain'), now), valid: true },
    ];
  },
  'timestamps out of range': (id, ctx) => {
    const now = ctx.nowSeconds;
    const at = (seconds: bigint | number, nanos: number): Partial<RawEvent> => ({ timestamp: { seconds, nanos } });
    const skewSeconds = Math.ceil(ctx.limits.maxFutureSkewMs / 1000);
    return [
      { label: 'seconds = INT64_MAX', event: validEvent(id('max64'), now, at(INT64_MAX, 0)), valid: false },
      { label: 'seconds = INT64_MIN', event: validEvent(id('min64'), now, at(INT64_MIN, 0)), valid: false },
      { label: 'seconds = 2^53', event: validEvent(id('2p53'), now, at(2n ** 53n, 0)), valid: false },
      { label: 'seconds after 9999-12-31', event: validEvent(id('after'), now, at(MAX_SECONDS + 1, 0)), valid: false },
      { label: 'seconds before 0001-01-01', event: validEvent(id('before'), now, at(MIN_SECONDS - 1, 0)), valid: false },
      { label: 'nanos = -1', event: validEvent(id('nanos-negative'), now, at(now, -1)), valid: false },
      { label: 'nanos = 1e9', event: validEvent(id('nanos-1e9'), now, at(now, 1_000_000_000)), valid: false },
      { label: 'nanos = INT32_MAX', event: validEvent(id('nanos-max'), now, at(now, 2 ** 31 - 1)), valid: false },
      { label: 'no timestamp', event: validEvent(id('missing'), now, { timestamp: null }), valid: false },
      { label: 'past the future skew', event: validEvent(id('future'), now, at(now + skewSeconds + 120, 0)), valid: false },
      { label: '0001-01-01T00:00:00Z', event: validEvent(id('first'), now, at(MIN_SECONDS, 0)), valid: true },
      { label: 'nanos = 999999999', event: validEvent(id('nanos-last'), now, at(now - 5, 999_999_999)), valid: true },
    ];
  },
  'payloads PostgreSQL cannot store and odd payload shapes': (id, ctx) => {
    const now = ctx.nowSeconds;
    return [
      { label: 'payload and payload_json both set', event: validEvent(id('both'), now, { payload: structBytes({ a: 1 }) }), valid: false },
      { label: 'payload_json an array', event: validEvent(id('array'), now, { payloadJson: '[1,2]' }), valid: false },
      { label: 'payload_json null', event: validEvent(id('null'), now, { payloadJson: 'null' }), valid: false },
      { label: 'payload_json not JSON', event: validEvent(id('garbage'), now, { payloadJson: '{"a":' }), valid: false },
      { label: 'payload_json with a number beyond numeric', event: validEvent(id('numeric'), now, { payloadJson: `{"a":1.${'0'.repeat(16_384)}}` }), valid: false },
      { label: 'payload_json with a number past the double range (1e400)', event: validEvent(id('double-max'), now, { payloadJson: '{"a":1e400}' }), valid: false },
      { label: 'payload_json with a number that rounds to 0 as a double (1e-400)', event: validEvent(id('double-min'), now, { payloadJson: '{"a":-1e-400}' }), valid: false },
      { label: 'payload_json of 187 bytes that jsonb prints as 2.6 MB (20 x 1e131071)', event: validEvent(id('expands-small'), now, { payloadJson: `{"a":[${Array(20).fill('1e131071').join(',')}]}` }), valid: false },
      { label: 'payload_json of 37 KB that jsonb prints as 550 MB (4200 x 1e131071)', event: validEvent(id('expands-large'), now, { payloadJson: `{"a":[${Array(4200).fill('1e131071').join(',')}]}` }), valid: false },
      { label: 'payload_json within the double range whose full digits pass the stored limit (300 x 1e300)', event: validEvent(id('expands-digits'), now, { payloadJson: `{"a":[${Array(300).fill('1e300').join(',')}]}` }), valid: false },
      { label: 'payload_json with the largest and smallest doubles', event: validEvent(id('double-edges'), now, { payloadJson: '{"a":[1.7976931348623157e308,-4.9e-324]}' }), valid: true },
      { label: 'Struct of doubles that jsonb prints in full past the stored limit (300 x 1e300)', event: validEvent(id('struct-expands'), now, { payloadJson: undefined, payload: structBytes({ a: Array(300).fill(1e300) }) }), valid: false },
      { label: 'payload_json with a lone surrogate escape', event: validEvent(id('surrogate'), now, { payloadJson: '{"a":"\\ud800"}' }), valid: false },
      { label: 'Struct with NaN', event: validEvent(id('nan'), now, { payloadJson: undefined, payload: structBytes({ a: Number.NaN }) }), valid: false },
      { label: 'Struct with Infinity', event: validEvent(id('infinity'), now, { payloadJson: undefined, payload: structBytes({ a: Number.POSITIVE_INFINITY }) }), valid: false },
      { label: 'Struct list holding a Value with no kind', event: validEvent(id('no-kind'), now, { payloadJson: undefined, payload: structWithKindlessListValue() }), valid: false },
      { label: 'Struct with a "__proto__" key', event: validEvent(id('proto-key'), now, { payloadJson: undefined, payload: structWithRawKey(bytes('__proto__')) }), valid: true },
      { label: 'empty Struct', event: validEvent(id('empty-struct'), now, { payloadJson: undefined, payload: new Uint8Array(0) }), valid: true },
      { label: 'no payload at all', event: validEvent(id('no-payload'), now, { payloadJson: undefined }), valid: true },
      { label: 'unknown fields in the event', event: validEvent(id('unknown'), now, { extra: concat([varintField(99, 7), lengthDelimited(100, 'x')]) }), valid: true },
      { label: 'received_at set by the client (output only, ignored)', event: validEvent(id('received-at'), now, { extra: lengthDelimited(7, concat([varintField(1, INT64_MAX)])) }), valid: true },
    ];
  },
};

/** The groups as cases: each as one Ingest message, and as an IngestStream split in two messages. */
export function ingestGroupCases(ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const [name, group] of Object.entries(INGEST_GROUPS)) {
    const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 24);
    for (const rpc of ['Ingest', 'IngestStream'] as const) {
      const events = group((label) => `${ctx.idPrefix}-${slug}-${rpc}-${label}`, ctx);
      const encoded = events.map((labelled) => eventBytes(labelled.event));
      const half = Math.ceil(encoded.length / 2);
      const messages = rpc === 'Ingest' ? [ingestMessage(encoded)] : [ingestMessage(encoded.slice(0, half)), ingestMessage(encoded.slice(half))];
      const idOf = (event: RawEvent): string | undefined => (typeof event.eventId === 'string' && PRINTABLE_ASCII.test(event.eventId) ? event.eventId : undefined);
      const valid = events.filter((labelled) => labelled.valid);
      cases.push({
        name: `${rpc}: ${name} (${events.map((labelled) => `${labelled.label}: ${labelled.valid ? 'valid' : 'rejected'}`).join('; ')})`,
        kind: 'targeted',
        rpc,
        messages,
        expect: ['OK'],
        ingest: {
          accepted: valid.length,
          duplicates: 0,
          rejected: events.length - valid.length,
          stored: valid.map((labelled) => idOf(labelled.event)).filter((eventId): eventId is string => eventId !== undefined),
          notStored: events.filter((labelled) => !labelled.valid).flatMap((labelled) => idOf(labelled.event) ?? []),
        },
      });
    }
  }
  return cases;
}

/**
 * One message of `count` events (default 100 000): one in ten invalid, one in
 * fifty a copy of the event before it. Sent as the high-limit tenant it must be
 * OK with every valid event stored; as a tenant with the default burst it is
 * INVALID_ARGUMENT naming `events`, with nothing stored.
 */
export function manyEventsCases(ctx: CaseContext, count = 100_000): FuzzCase[] {
  const build = (prefix: string): { message: Uint8Array; valid: string[]; invalid: number; duplicates: number; all: string[] } => {
    const encoded: Uint8Array[] = [];
    const valid: string[] = [];
    const all: string[] = [];
    let invalid = 0;
    let duplicates = 0;
    for (let i = 0; i < count; i++) {
      if (i % 50 === 49) {
        encoded.push(encoded[i - 1]!);
        // A copy of an invalid event is rejected again; of a valid one, a duplicate.
        if ((i - 1) % 10 === 9) invalid++;
        else duplicates++;
        continue;
      }
      const eventId = `${prefix}-${i}`;
      all.push(eventId);
      if (i % 10 === 9) {
        encoded.push(eventBytes({ eventId, timestamp: { seconds: ctx.nowSeconds, nanos: 0 }, eventType: 'Not Valid', serviceName: 's' }));
        invalid++;
      } else {
        encoded.push(eventBytes({ eventId, timestamp: { seconds: ctx.nowSeconds - 1, nanos: 0 }, eventType: 'm', serviceName: 's' }));
        valid.push(eventId);
      }
    }
    return { message: ingestMessage(encoded), valid, invalid, duplicates, all };
  };
  // Short ids keep 100 000 events under a 4 MiB message limit.
  const big = build(`${ctx.idPrefix}-m`);
  const refused = build(`${ctx.idPrefix}-d`);
  return [
    {
      name: `Ingest: ${count} events in one message (${big.invalid} invalid, ${big.duplicates} copies), tenant burst above ${count}`,
      kind: 'targeted',
      rpc: 'Ingest',
      tenant: 'bulk',
      messages: [big.message],
      expect: ['OK'],
      ingest: { accepted: big.valid.length, duplicates: big.duplicates, rejected: big.invalid, stored: big.valid },
      deadlineMs: 180_000,
    },
    {
      name: `IngestStream: ${count} events in one message, tenant with the default burst (${ctx.limits.defaultEventBurst})`,
      kind: 'targeted',
      rpc: 'IngestStream',
      tenant: 'defaults',
      messages: [refused.message],
      expect: ['INVALID_ARGUMENT'],
      badRequestField: 'events',
      ingest: { notStored: refused.all.filter((_, i) => i % 1000 === 0) },
      deadlineMs: 60_000,
    },
  ];
}

/**
 * Requests just under, at and just over GRPC_MAX_RECEIVE_MESSAGE_SIZE, for
 * every RPC: a valid request padded with an unknown field. Under and at the
 * limit they are served (and their events stored); one byte over is
 * RESOURCE_EXHAUSTED.
 */
export function messageSizeCases(ctx: CaseContext, bases: Readonly<Record<'QueryEvents' | 'StreamEvents' | 'Aggregate', Uint8Array>>): FuzzCase[] {
  const limit = ctx.limits.maxMessageBytes;
  const cases: FuzzCase[] = [];
  for (const [label, size] of [
    ['one byte under', limit - 1],
    ['exactly at', limit],
    ['one byte over', limit + 1],
  ] as const) {
    const over = size > limit;
    for (const rpc of ['Ingest', 'IngestStream'] as const) {
      const ids = [0, 1, 2].map((i) => `${ctx.idPrefix}-size-${rpc}-${size}-${i}`);
      const message = padTo(ingestMessage(ids.map((eventId) => eventBytes(validEvent(eventId, ctx.nowSeconds)))), size);
      cases.push({
        name: `${rpc}: message ${label} the ${limit}-byte limit (${size} bytes: 3 valid events and an unknown field)`,
        kind: 'targeted',
        rpc,
        messages: [message],
        expect: [over ? 'RESOURCE_EXHAUSTED' : 'OK'],
        ingest: over ? { notStored: ids } : { accepted: 3, duplicates: 0, rejected: 0, stored: ids },
      });
    }
    for (const [rpc, base] of Object.entries(bases) as ['QueryEvents' | 'StreamEvents' | 'Aggregate', Uint8Array][]) {
      cases.push({ name: `${rpc}: message ${label} the ${limit}-byte limit (${size} bytes: a valid request and an unknown field)`, kind: 'targeted', rpc, messages: [padTo(base, size)], expect: [over ? 'RESOURCE_EXHAUSTED' : 'OK'] });
    }
  }
  return cases;
}

/** A Struct {key: <raw string bytes>}. */
function structWithRawString(key: string, value: Uint8Array): Uint8Array {
  return lengthDelimited(1, concat([lengthDelimited(1, key), lengthDelimited(2, lengthDelimited(3, value))]));
}

/** A Struct {<raw key bytes>: 1}. */
function structWithRawKey(key: Uint8Array): Uint8Array {
  const one = concat([Uint8Array.of(17), Buffer.from(new Float64Array([1]).buffer)]);
  return lengthDelimited(1, concat([lengthDelimited(1, key), lengthDelimited(2, one)]));
}

/** A Struct {"a": [<a Value with no kind>]}. */
function structWithKindlessListValue(): Uint8Array {
  return lengthDelimited(1, concat([lengthDelimited(1, 'a'), lengthDelimited(2, lengthDelimited(6, lengthDelimited(1, new Uint8Array(0))))]));
}
