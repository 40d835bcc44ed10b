import { makeGenericClientConstructor, type Client, type ClientWritableStream, type Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import type { Event as WireEvent } from './gen/telemetry/v1/event';
import { IngestServiceService, IngestStreamRequest, type IngestStreamResponse } from './gen/telemetry/v1/ingest_service';

/** Bytes of an encoder's buffers (slabs); an event larger than this gets a slab of its own. */
const SLAB_BYTES = 1024 * 1024;

/** A new encoder's slab: none yet (no room, so its first frame allocates one). */
const EMPTY_SLAB = Buffer.alloc(0);

/** Where a frame lies: bytes [start, start + length) of slab. */
export interface Frame {
  readonly slab: Buffer;
  readonly start: number;
  readonly length: number;
}

/**
 * Encodes events once, at add(), each as one entry of IngestStreamRequest's
 * `repeated Event events = 1`: the tag byte, the length, then the
 * telemetry.v1.Event bytes. A message is the concatenation of its events'
 * frames, so batching, cutting and resending never encode again, and the
 * frame's length is the event's exact share of a message's size.
 *
 * Frames are written one after another into the encoder's 1 MiB buffers
 * (slabs), strings straight from the JavaScript string into the slab, with
 * no size computed beforehand: a length prefix is reserved for the largest
 * size the string could take (3 bytes per UTF-16 unit), and the bytes are
 * moved back when the real length needs fewer. Each ingester has an encoder
 * of its own, so the frames of its consecutive events are one contiguous
 * range of a slab, which a message sends without copying (see messageBytes).
 * A frame is a slab and an offset, not a Buffer of its own: a Buffer view per
 * event would cost more than its encoding. This is several times cheaper per
 * event than the generated codec (docs/sdk.md, "Performance").
 */
export interface FrameEncoder {
  /** The slab the last frame was written into. */
  slab: Buffer;
  /** Where the next frame starts in `slab` (the end of the last one). */
  end: number;
}

/**
 * A new encoder (no slab yet). An object literal rather than a class
 * instance: V8 keeps the hidden class of a literal alive for as long as the
 * function that makes it, while a class instance's hidden class is
 * collected with the last instance, and the optimized code of encodeFrame,
 * built for it, is thrown away with it. A process that makes new ingesters
 * after the old ones were collected would otherwise compile the encoder
 * again for each (docs/sdk.md, "Performance").
 */
export function createFrameEncoder(): FrameEncoder {
  return { slab: EMPTY_SLAB, end: 0 };
}

/** Writes the frame into `encoder.slab` and returns where it starts; it ends at `encoder.end`. */
export function encodeFrame(encoder: FrameEncoder, eventId: string, seconds: number, nanos: number, eventType: string, serviceName: string, payloadJson: string): number {
  const bound = 40 + 3 * (eventId.length + eventType.length + serviceName.length + payloadJson.length) + 4 * 6;
  if (encoder.slab.length - encoder.end < bound) {
    encoder.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bound));
    encoder.end = 0;
  }
  const slab = encoder.slab;
  const start = encoder.end;
  const reserved = varintSize(bound);
  const eventStart = start + 1 + reserved;
  let at = eventStart;
  at = writeString(slab, at, 0x0a, eventId); // event_id (1)
  slab[at++] = 0x12; // timestamp (2), always present: the server requires it
  const timestampBytes = (seconds === 0 ? 0 : 1 + int64Size(seconds)) + (nanos === 0 ? 0 : 1 + varintSize(nanos));
  at = writeVarint(slab, at, timestampBytes);
  if (seconds !== 0) {
    slab[at++] = 0x08;
    at = writeInt64(slab, at, seconds);
  }
  if (nanos !== 0) {
    slab[at++] = 0x10;
    at = writeVarint(slab, at, nanos);
  }
  at = writeString(slab, at, 0x1a, eventType); // event_type (3)
  at = writeString(slab, at, 0x22, serviceName); // service_name (4)
  // payload_json (6) is a member of the payload oneof: written even when empty.
  at = writeString(slab, at, 0x32, payloadJson, true);
  const eventBytes = at - eventStart;
  const needed = varintSize(eventBytes);
  if (needed < reserved) {
    slab.copyWithin(start + 1 + needed, eventStart, at);
    at -= reserved - needed;
  }
  slab[start] = 0x0a; // IngestStreamRequest.events (1), length-delimited
  writeVarint(slab, start + 1, eventBytes);
  encoder.end = at;
  return start;
}

/** A frame's bytes (a view, no copy). */
export function frameBytes(frame: Frame): Buffer {
  return frame.slab.subarray(frame.start, frame.start + frame.length);
}

/**
 * A message's bytes: the frames themselves when they lie one after another
 * in one slab (the usual case: an ingester's events are taken in the order
 * they were encoded), else a copy of them joined.
 */
export function messageBytes(frames: readonly Frame[]): Buffer {
  const first = frames[0]!;
  let end = first.start + first.length;
  for (let i = 1; i < frames.length; i++) {
    const frame = frames[i]!;
    if (frame.slab !== first.slab || frame.start !== end) return Buffer.concat(frames.map(frameBytes));
    end += frame.length;
  }
  return first.slab.subarray(first.start, end);
}

/** The event a frame holds (for onRejected and for tests). */
export function decodeEventFrame(frame: Frame): WireEvent {
  return IngestStreamRequest.decode(frameBytes(frame)).events[0]!;
}

type Utf8Write = (this: Buffer, value: string, offset: number) => number;
const nativeUtf8Write = (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write;

/**
 * UTF-8 into the buffer at `offset` (room is ensured by the caller). Node's
 * own Buffer#utf8Write when present (every Node.js version this package
 * supports): Buffer#write's argument handling costs more than the copy for
 * the short strings of an event.
 */
const utf8Write: (frame: Buffer, value: string, offset: number) => number = nativeUtf8Write
  ? (frame, value, offset) => nativeUtf8Write.call(frame, value, offset)
  : (frame, value, offset) => frame.write(value, offset, 'utf8');

/**
 * Strings up to this many UTF-16 units are tried as ASCII in JavaScript first
 * (event ids, types and service names): below about 64 characters the loop
 * costs less than Buffer#utf8Write's call; a payload goes to utf8Write.
 */
const SHORT_STRING = 64;

/** Writes a string field (tag, length, UTF-8) straight into the slab; an empty string is left out unless `always`. */
function writeString(frame: Buffer, at: number, tag: number, value: string, always = false): number {
  const length = value.length;
  if (length === 0 && !always) return at;
  frame[at++] = tag;
  if (length <= SHORT_STRING) {
    // An ASCII string this short is copied by this loop faster than a call into C++ takes (its length is its one-byte varint).
    let i = 0;
    for (; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 0x7f) break;
      frame[at + 1 + i] = code;
    }
    if (i === length) {
      frame[at] = length;
      return at + 1 + length;
    }
  }
  const reserved = varintSize(value.length * 3);
  const bytes = utf8Write(frame, value, at + reserved);
  const needed = varintSize(bytes);
  if (needed < reserved) frame.copyWithin(at + needed, at + reserved, at + reserved + bytes);
  return writeVarint(frame, at, bytes) + bytes;
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
