import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { AnyValue, ExportLogsRequest, InstrumentationScope, KeyValue, LogRecord, Resource } from '../../domain/otlp/otlp-model';

/** AnyValue nesting deeper than this is refused (no payload that deep is storable: INGEST_MAX_PAYLOAD_DEPTH is at most 1000). */
const MAX_VALUE_DEPTH = 1000;

/**
 * A hand-written decoder of ExportLogsServiceRequest (the hot path of OTLP
 * ingest: the SDKs' default signal by volume), producing exactly the fields
 * the mapping reads, with the values @bufbuild/protobuf's reflection decoder
 * gives them (defaults included), at a fraction of its cost. Unknown fields
 * and fields of an unexpected wire type are skipped; truncated or
 * inconsistent bytes throw. test/unit/otlp-decoders.test.ts holds it to the
 * reflection decoder.
 */
export function decodeLogsRequest(bytes: Uint8Array): ExportLogsRequest {
  const r = new BinaryReader(bytes);
  const resourceLogs: ExportLogsRequest['resourceLogs'][number][] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) resourceLogs.push(readResourceLogs(r, endOf(r)));
    else r.skip(wt, no);
  }
  return { resourceLogs };
}

function endOf(r: BinaryReader): number {
  const length = r.uint32();
  const end = r.pos + length;
  if (end > r.len) throw new Error('premature EOF');
  return end;
}

function done(r: BinaryReader, end: number): void {
  if (r.pos !== end) throw new Error('invalid wire format: a field runs past its message');
}

function readResourceLogs(r: BinaryReader, end: number): ExportLogsRequest['resourceLogs'][number] {
  let resource: Resource | undefined;
  const scopeLogs: ExportLogsRequest['resourceLogs'][number]['scopeLogs'][number][] = [];
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) resource = readResource(r, endOf(r), resource);
    else if (no === 2 && wt === WireType.LengthDelimited) scopeLogs.push(readScopeLogs(r, endOf(r)));
    else r.skip(wt, no);
  }
  done(r, end);
  return { resource, scopeLogs };
}

/** A repeated occurrence of a message field merges into the earlier one, as protobuf has it. */
export function readResource(r: BinaryReader, end: number, into: Resource | undefined): Resource {
  const attributes = [...(into?.attributes ?? [])];
  let droppedAttributesCount = into?.droppedAttributesCount ?? 0;
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) attributes.push(readKeyValue(r, endOf(r), 0));
    else if (no === 2 && wt === WireType.Varint) droppedAttributesCount = r.uint32();
    else r.skip(wt, no);
  }
  done(r, end);
  return { attributes, droppedAttributesCount };
}

function readScopeLogs(r: BinaryReader, end: number): ExportLogsRequest['resourceLogs'][number]['scopeLogs'][number] {
  let scope: InstrumentationScope | undefined;
  const logRecords: LogRecord[] = [];
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) scope = readScope(r, endOf(r), scope);
    else if (no === 2 && wt === WireType.LengthDelimited) logRecords.push(readLogRecord(r, endOf(r)));
    else r.skip(wt, no);
  }
  done(r, end);
  return { scope, logRecords };
}

export function readScope(r: BinaryReader, end: number, into: InstrumentationScope | undefined): InstrumentationScope {
  let name = into?.name ?? '';
  let version = into?.version ?? '';
  const attributes = [...(into?.attributes ?? [])];
  let droppedAttributesCount = into?.droppedAttributesCount ?? 0;
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) name = r.string();
    else if (no === 2 && wt === WireType.LengthDelimited) version = r.string();
    else if (no === 3 && wt === WireType.LengthDelimited) attributes.push(readKeyValue(r, endOf(r), 0));
    else if (no === 4 && wt === WireType.Varint) droppedAttributesCount = r.uint32();
    else r.skip(wt, no);
  }
  done(r, end);
  return { name, version, attributes, droppedAttributesCount };
}

const EMPTY = new Uint8Array(0);

function readLogRecord(r: BinaryReader, end: number): LogRecord {
  let timeUnixNano = 0n;
  let observedTimeUnixNano = 0n;
  let severityNumber = 0;
  let severityText = '';
  let body: AnyValue | undefined;
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  let traceId: Uint8Array = EMPTY;
  let spanId: Uint8Array = EMPTY;
  let eventName = '';
  while (r.pos < end) {
    const [no, wt] = r.tag();
    switch (no) {
      case 1:
        if (wt === WireType.Bit64) timeUnixNano = BigInt(r.fixed64());
        else r.skip(wt, no);
        break;
      case 11:
        if (wt === WireType.Bit64) observedTimeUnixNano = BigInt(r.fixed64());
        else r.skip(wt, no);
        break;
      case 2:
        if (wt === WireType.Varint) severityNumber = r.int32();
        else r.skip(wt, no);
        break;
      case 3:
        if (wt === WireType.LengthDelimited) severityText = r.string();
        else r.skip(wt, no);
        break;
      case 5:
        if (wt === WireType.LengthDelimited) body = readAnyValue(r, endOf(r), 0, body);
        else r.skip(wt, no);
        break;
      case 6:
        if (wt === WireType.LengthDelimited) attributes.push(readKeyValue(r, endOf(r), 0));
        else r.skip(wt, no);
        break;
      case 7:
        if (wt === WireType.Varint) droppedAttributesCount = r.uint32();
        else r.skip(wt, no);
        break;
      case 8:
        if (wt === WireType.Bit32) flags = r.fixed32();
        else r.skip(wt, no);
        break;
      case 9:
        if (wt === WireType.LengthDelimited) traceId = r.bytes();
        else r.skip(wt, no);
        break;
      case 10:
        if (wt === WireType.LengthDelimited) spanId = r.bytes();
        else r.skip(wt, no);
        break;
      case 12:
        if (wt === WireType.LengthDelimited) eventName = r.string();
        else r.skip(wt, no);
        break;
      default:
        r.skip(wt, no);
    }
  }
  done(r, end);
  return { timeUnixNano, observedTimeUnixNano, severityNumber, severityText, body, attributes, droppedAttributesCount, flags, traceId, spanId, eventName };
}

function readKeyValue(r: BinaryReader, end: number, depth: number): KeyValue {
  let key = '';
  let value: AnyValue | undefined;
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) key = r.string();
    else if (no === 2 && wt === WireType.LengthDelimited) value = readAnyValue(r, endOf(r), depth + 1, value);
    else r.skip(wt, no);
  }
  done(r, end);
  return { key, value };
}

/** An AnyValue; its oneof takes the last member on the wire (a repeated array or kvlist member merges, as protobuf has it). */
function readAnyValue(r: BinaryReader, end: number, depth: number, into: AnyValue | undefined): AnyValue {
  if (depth > MAX_VALUE_DEPTH) throw new Error(`attribute values nest more than ${MAX_VALUE_DEPTH} levels deep`);
  let value: AnyValue['value'] = into?.value ?? { case: undefined };
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) value = { case: 'stringValue', value: r.string() };
    else if (no === 2 && wt === WireType.Varint) value = { case: 'boolValue', value: r.bool() };
    else if (no === 3 && wt === WireType.Varint) value = { case: 'intValue', value: BigInt(r.int64()) };
    else if (no === 4 && wt === WireType.Bit64) value = { case: 'doubleValue', value: r.double() };
    else if (no === 5 && wt === WireType.LengthDelimited) {
      const values = value.case === 'arrayValue' ? [...value.value.values] : [];
      const listEnd = endOf(r);
      while (r.pos < listEnd) {
        const [n, w] = r.tag();
        if (n === 1 && w === WireType.LengthDelimited) values.push(readAnyValue(r, endOf(r), depth + 1, undefined));
        else r.skip(w, n);
      }
      done(r, listEnd);
      value = { case: 'arrayValue', value: { values } };
    } else if (no === 6 && wt === WireType.LengthDelimited) {
      const values = value.case === 'kvlistValue' ? [...value.value.values] : [];
      const listEnd = endOf(r);
      while (r.pos < listEnd) {
        const [n, w] = r.tag();
        if (n === 1 && w === WireType.LengthDelimited) values.push(readKeyValue(r, endOf(r), depth + 1));
        else r.skip(w, n);
      }
      done(r, listEnd);
      value = { case: 'kvlistValue', value: { values } };
    } else if (no === 7 && wt === WireType.LengthDelimited) value = { case: 'bytesValue', value: r.bytes() };
    else r.skip(wt, no);
  }
  done(r, end);
  return { value };
}
