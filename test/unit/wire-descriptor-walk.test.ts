import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FieldDescriptorProtoSchema, FileDescriptorSetSchema, type DescriptorProto, type FieldDescriptorProto } from '@bufbuild/protobuf/wkt';
import { descriptorSetBase64 } from '../../src/gen/descriptor-set';
import { IngestRequest, IngestStreamRequest } from '../../src/gen/telemetry/v1/ingest_service';
import { AggregateRequest, QueryEventsRequest, QueryEventsResponse, StreamEventsRequest, StreamEventsResponse } from '../../src/gen/telemetry/v1/query_service';
import type { StoredEvent } from '../../src/domain/query/event-reader';
import { AGGREGATE_ROW, EVENT } from '../../src/transport/grpc/wire/field-tags';
import { createRequestDecoders } from '../../src/transport/grpc/wire/request-decoders';
import { serializeStoredEventChunk, serializeStoredEventPage, toProtoEvent } from '../../src/transport/grpc/wire/encode-query-responses';
import { ingestAsGenerated } from '../support/decoded-ingest';

/**
 * The hand-written codecs (src/transport/grpc/wire) must handle every field
 * of the messages they read and write. This walks the descriptor set the
 * server serves (every field of every such message, nested messages too),
 * fills each field, and compares the hand-written codecs with the generated
 * ones: a field added to a .proto file and not handled here fails.
 */
const descriptors = new Map<string, DescriptorProto>();
for (const file of fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, 'base64')).file) {
  const collect = (prefix: string, messages: readonly DescriptorProto[]): void => {
    for (const message of messages) {
      descriptors.set(`${prefix}.${message.name}`, message);
      collect(`${prefix}.${message.name}`, message.nestedType);
    }
  };
  collect(file.package === '' ? '' : `.${file.package}`, file.messageType);
}

function descriptor(name: string): DescriptorProto {
  const found = descriptors.get(name);
  if (found === undefined) throw new Error(`${name} is not in the descriptor set`);
  return found;
}

/** A value for every field of `typeName`, shaped as ts-proto's generated types are. */
function filled(typeName: string, depth = 0): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const field of descriptor(typeName).field) {
    const one = (): unknown => valueOf(field, depth);
    object[field.jsonName] = field.label === FieldDescriptorProto_Label.REPEATED ? [one(), one()] : one();
  }
  return object;
}

function valueOf(field: FieldDescriptorProto, depth: number): unknown {
  switch (field.type) {
    case FieldDescriptorProto_Type.STRING:
      return `${field.name}-é`;
    case FieldDescriptorProto_Type.BYTES:
      return new Uint8Array([1, 2, 3]);
    case FieldDescriptorProto_Type.BOOL:
      return true;
    case FieldDescriptorProto_Type.DOUBLE:
    case FieldDescriptorProto_Type.FLOAT:
      return 1.5;
    case FieldDescriptorProto_Type.ENUM:
      return 1;
    case FieldDescriptorProto_Type.MESSAGE:
      switch (field.typeName) {
        case '.google.protobuf.Timestamp':
        case '.google.protobuf.Duration':
          return { seconds: 1_700_000_000, nanos: 5000 };
        case '.google.protobuf.Struct':
          return { a: 1, b: ['x', true, null], c: { d: 'e' } };
        default:
          if (depth > 4) throw new Error(`${field.typeName} nests too deep for this walk`);
          return filled(field.typeName, depth + 1);
      }
    default:
      // Every integer type, as ts-proto gives them (numbers).
      return 7;
  }
}

const names = (typeName: string): string[] => descriptor(typeName).field.map((field) => field.jsonName).sort();
const decoders = createRequestDecoders({ ingest: { maxPayloadDepth: 32 }, query: { payloadContainsMaxDepth: 32 } });

describe('the hand-written codecs against the descriptor set', () => {
  test.each([
    ['telemetry.v1.IngestRequest', IngestRequest, ingestAsGenerated(decoders)],
    ['telemetry.v1.IngestStreamRequest', IngestStreamRequest, ingestAsGenerated(decoders)],
    ['telemetry.v1.QueryEventsRequest', QueryEventsRequest, decoders.queryEventsRequest],
    ['telemetry.v1.StreamEventsRequest', StreamEventsRequest, decoders.streamEventsRequest],
    ['telemetry.v1.AggregateRequest', AggregateRequest, decoders.aggregateRequest],
  ] as const)('when every field of %s (nested messages included) is set, then the hand-written decoder gives what the generated one gives', (name, codec, decode) => {
    const message = filled(`.${name}`);
    // Both members of Event's payload oneof would be a rejection: one message per member.
    for (const payloadMember of ['payload', 'payloadJson'] as const) {
      const variant = structuredClone(message);
      for (const event of (variant.events as Record<string, unknown>[] | undefined) ?? []) delete event[payloadMember === 'payload' ? 'payloadJson' : 'payload'];
      const bytes = (codec as { encode(value: unknown): { finish(): Uint8Array } }).encode(variant).finish();
      expect(decode(bytes)).toEqual((codec as { decode(bytes: Uint8Array): unknown }).decode(bytes));
    }
  });

  test('when telemetry.v1.Event gains a field, then the tag table (field-tags.ts EVENT) and toProtoEvent must name it: both cover exactly the descriptor\'s fields', () => {
    const event = descriptor('.telemetry.v1.Event');
    expect(Object.keys(EVENT).sort()).toEqual(names('.telemetry.v1.Event'));
    for (const field of event.field) expect([field.jsonName, EVENT[field.jsonName as keyof typeof EVENT] >>> 3]).toEqual([field.jsonName, field.number]);
    const stored: StoredEvent = {
      eventId: 'e',
      timestampUs: 1n,
      eventType: 'log',
      serviceName: 's',
      payload: { a: 1 },
      payloadJson: undefined,
      unservablePayloadBytes: undefined,
      receivedAtUs: 2n,
    };
    const oneofMembers = event.field.filter((field) => isFieldSet(field, FieldDescriptorProtoSchema.field.oneofIndex) && !field.proto3Optional).map((field) => field.jsonName);
    const set = (value: object): string[] => Object.entries(value).filter(([, field]) => field !== undefined).map(([key]) => key);
    for (const asJson of [false, true]) {
      const proto = toProtoEvent(asJson ? { ...stored, payload: undefined, payloadJson: '{"a": 1}' } : stored);
      const expected = names('.telemetry.v1.Event').filter((name) => !oneofMembers.includes(name) || name === (asJson ? 'payloadJson' : 'payload'));
      expect(set(proto).sort()).toEqual(expected);
    }
  });

  test('when telemetry.v1.AggregateRow gains a field, then the tag table (field-tags.ts AGGREGATE_ROW) must name it', () => {
    const row = descriptor('.telemetry.v1.AggregateRow');
    expect(Object.keys(AGGREGATE_ROW).sort()).toEqual(names('.telemetry.v1.AggregateRow'));
    for (const field of row.field) expect([field.jsonName, AGGREGATE_ROW[field.jsonName as keyof typeof AGGREGATE_ROW] >>> 3]).toEqual([field.jsonName, field.number]);
  });

  test.each([
    ['telemetry.v1.QueryEventsResponse', QueryEventsResponse, serializeStoredEventPage],
    ['telemetry.v1.StreamEventsResponse', StreamEventsResponse, serializeStoredEventChunk],
  ] as const)('when every field of %s is set, then the hand-written encoder writes what the generated one writes', (name, codec, serialize) => {
    const stored: StoredEvent[] = [0, 1].map((i) => ({
      eventId: `e-${i}`,
      timestampUs: 1_700_000_000_000_005n + BigInt(i),
      eventType: 'log',
      serviceName: 's',
      payload: i === 0 ? { a: 1, b: [true, null] } : undefined,
      payloadJson: i === 1 ? '{"a": 1}' : undefined,
      unservablePayloadBytes: undefined,
      receivedAtUs: 1_700_000_000_000_009n,
    }));
    const message = { ...filled(`.${name}`), events: stored };
    const generated = (codec as { encode(value: unknown): { finish(): Uint8Array } }).encode({ ...message, events: stored.map(toProtoEvent) }).finish();
    expect(Buffer.from((serialize as (value: unknown) => Buffer)(message)).equals(Buffer.from(generated))).toBe(true);
  });
});
