import { makeGenericClientConstructor, type Client, type ClientWritableStream, type Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import type { Event as WireEvent } from './gen/telemetry/v1/event';
import { IngestServiceService, IngestStreamRequest, type IngestStreamResponse } from './gen/telemetry/v1/ingest_service';

/**
 * An event encoded once, at add(), as one entry of IngestStreamRequest's
 * `repeated Event events = 1`: the tag byte, the length, then the
 * telemetry.v1.Event bytes. A message is the concatenation of its events'
 * frames, so batching, cutting and resending never encode again, and the
 * frame's length is the event's exact share of a message's size.
 *
 * Hand-written rather than the generated codec: the generated writer costs
 * several times as much per event, which the SDK bench row measured as the
 * largest cost of the client (docs/sdk.md, "Performance").
 */
export function encodeEventFrame(eventId: string, seconds: number, nanos: number, eventType: string, serviceName: string, payloadJson: string): Buffer {
  const idBytes = Buffer.byteLength(eventId);
  const typeBytes = Buffer.byteLength(eventType);
  const serviceBytes = Buffer.byteLength(serviceName);
  const payloadBytes = Buffer.byteLength(payloadJson);
  const timestampBytes = (seconds === 0 ? 0 : 1 + int64Size(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos));
  const eventBytes =
    stringFieldSize(idBytes) + 1 + varintSize(timestampBytes) + timestampBytes + stringFieldSize(typeBytes) + stringFieldSize(serviceBytes) + 1 + varintSize(payloadBytes) + payloadBytes;
  const frame = Buffer.allocUnsafe(1 + varintSize(eventBytes) + eventBytes);
  let at = 0;
  frame[at++] = 0x0a; // IngestStreamRequest.events (1), length-delimited
  at = writeVarint(frame, at, eventBytes);
  at = writeString(frame, at, 0x0a, eventId, idBytes); // event_id (1)
  frame[at++] = 0x12; // timestamp (2), always present: the server requires it
  at = writeVarint(frame, at, timestampBytes);
  if (seconds !== 0) {
    frame[at++] = 0x08;
    at = writeInt64(frame, at, seconds);
  }
  if (nanos !== 0) {
    frame[at++] = 0x10;
    at = writeVarint(frame, at, nanos);
  }
  at = writeString(frame, at, 0x1a, eventType, typeBytes); // event_type (3)
  at = writeString(frame, at, 0x22, serviceName, serviceBytes); // service_name (4)
  // payload_json (6) is a member of the payload oneof: written even when empty.
  frame[at++] = 0x32;
  at = writeVarint(frame, at, payloadBytes);
  frame.write(payloadJson, at, payloadBytes, 'utf8');
  return frame;
}

/** The event a frame holds (for onRejected and for tests). */
export function decodeEventFrame(frame: Buffer): WireEvent {
  return IngestStreamRequest.decode(frame).events[0]!;
}

function stringFieldSize(bytes: number): number {
  return bytes === 0 ? 0 : 1 + varintSize(bytes) + bytes;
}

function writeString(frame: Buffer, at: number, tag: number, value: string, bytes: number): number {
  if (bytes === 0) return at;
  frame[at++] = tag;
  at = writeVarint(frame, at, bytes);
  return at + frame.write(value, at, bytes, 'utf8');
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** A non-negative integer below 2^53 as a varint. */
function writeVarint(frame: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    frame[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  frame[at++] = value;
  return at;
}

/** int64 varints: negative values take ten bytes (two's complement). */
function int64Size(value: number): number {
  return value < 0 ? 10 : varintSize(value);
}

function writeInt64(frame: Buffer, at: number, value: number): number {
  if (value >= 0) return writeVarint(frame, at, value);
  let bits = BigInt.asUintN(64, BigInt(value));
  for (let i = 0; i < 9; i++) {
    frame[at++] = Number(bits & 0x7fn) | 0x80;
    bits >>= 7n;
  }
  frame[at++] = Number(bits);
  return at;
}

/** IngestStream whose messages are written as their encoded bytes (a concatenation of frames). */
export interface FramedIngestClient extends Client {
  ingestStream(metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: IngestStreamResponse) => void): ClientWritableStream<Buffer>;
}

/** The generated IngestService client, except that ingestStream's requests are bytes already encoded. */
export const FramedIngestClient = makeGenericClientConstructor(
  { ingestStream: { ...IngestServiceService.ingestStream, requestSerialize: (bytes: Buffer): Buffer => bytes } },
  'telemetry.v1.IngestService',
) as unknown as new (...args: ConstructorParameters<ReturnType<typeof makeGenericClientConstructor>>) => FramedIngestClient;
