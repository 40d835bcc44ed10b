import type { IngestSettings } from '../../config/load-config';
import { hasUnpairedSurrogate, inspectJsonValue, inspectStringifiedJson, type JsonTextLimits } from './inspect-json';
import { JsonObjectScanner, MALFORMED_UTF8 } from './scan-json-bytes';
import type { IncomingEvent, ValidEvent } from './ingest-event';

/** The first and last instants a google.protobuf.Timestamp may hold (0001-01-01 to 9999-12-31, UTC). */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

const MICROS_PER_SECOND = 1_000_000n;

export const EVENT_ID_MAX_LENGTH = 128;
export const EVENT_TYPE_MAX_LENGTH = 64;
export const SERVICE_NAME_MAX_LENGTH = 128;

const EVENT_ID_PATTERN = /^[\x20-\x7e]+$/;
const EVENT_TYPE_PATTERN = /^[a-z0-9_.:-]+$/;

/** A payload ready to write: its UTF-8 JSON text, and whether COPY must escape some of it. */
interface CheckedPayload {
  readonly json: Uint8Array;
  readonly copyEscapes: boolean;
}

const EMPTY_OBJECT: CheckedPayload = { json: Buffer.from('{}'), copyEscapes: false };

/** Decodes UTF-8 as protobuf string fields are decoded: each ill-formed sequence becomes U+FFFD; a BOM is kept. */
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export type ValidatorLimits = Pick<IngestSettings, 'maxPayloadBytes' | 'maxPayloadDepth' | 'maxFutureSkewMs'>;

/**
 * The contract's per-event rules (docs/api.md, "Ingest"). Each failure is a reason that
 * names the field, the rule and the limit; it rejects that event only.
 */
export class EventValidator {
  private readonly jsonLimits: JsonTextLimits;
  private readonly scanner: JsonObjectScanner;

  constructor(
    private readonly limits: ValidatorLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.jsonLimits = { maxDepth: limits.maxPayloadDepth, maxStoredBytes: limits.maxPayloadBytes };
    this.scanner = new JsonObjectScanner(this.jsonLimits);
  }

  /** The event ready to write, or the reason it is rejected. */
  validate(event: IncomingEvent): ValidEvent | string {
    const idProblem = checkEventId(event.eventId);
    if (idProblem !== undefined) return idProblem;
    const timestampUs = this.timestamp(event.timestamp);
    if (typeof timestampUs === 'string') return timestampUs;
    const typeProblem = checkEventType(event.eventType);
    if (typeProblem !== undefined) return typeProblem;
    const serviceProblem = checkServiceName(event.serviceName);
    if (serviceProblem !== undefined) return serviceProblem;
    const payload = this.payload(event);
    if (typeof payload === 'string') return payload;
    return {
      eventId: event.eventId,
      timestampUs,
      eventType: event.eventType,
      serviceName: event.serviceName,
      payloadJson: payload.json,
      payloadCopyEscapes: payload.copyEscapes,
    };
  }

  /** The timestamp in microseconds since the epoch (nanoseconds are truncated), or why it is rejected. */
  private timestamp(value: IncomingEvent['timestamp']): bigint | string {
    if (value === undefined) return 'timestamp is required';
    const { seconds, nanos } = value;
    if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
      return 'timestamp must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z';
    }
    if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) return 'timestamp nanos must be between 0 and 999999999';
    const millis = seconds * 1000 + Math.floor(nanos / 1_000_000);
    const aheadMs = millis - this.now();
    if (aheadMs > this.limits.maxFutureSkewMs) {
      return `timestamp is ${formatDuration(aheadMs)} ahead of the server clock; at most ${formatDuration(this.limits.maxFutureSkewMs)} ahead is accepted`;
    }
    // One BigInt when the microseconds are exact as a double (years 1685..2255), three otherwise.
    const micros = seconds * 1_000_000 + Math.floor(nanos / 1000);
    return Number.isSafeInteger(micros) ? BigInt(micros) : BigInt(seconds) * MICROS_PER_SECOND + BigInt(Math.floor(nanos / 1000));
  }

  /**
   * A payload whose writer vouched for what a scan would find (its nesting,
   * its stored size or a bound of it): taken as it is when within the limits,
   * else undefined, and the scan then says what is wrong.
   */
  private withinLimits(json: Uint8Array, depth: number, storedBytes: number, copyEscapes: boolean): CheckedPayload | undefined {
    return depth <= this.jsonLimits.maxDepth && storedBytes <= this.jsonLimits.maxStoredBytes ? { json, copyEscapes } : undefined;
  }

  /** The payload ready to write, or why the event is rejected. */
  private payload(event: IncomingEvent): CheckedPayload | string {
    const { payload, payloadStructJson, payloadJson } = event;
    const struct = payload !== undefined || payloadStructJson !== undefined;
    if (struct && payloadJson !== undefined) {
      return 'payload and payload_json are both set; they are a oneof: send one of them';
    }
    const written = event.payloadJsonWritten;
    if (written !== undefined && payloadJson instanceof Uint8Array) {
      // Its stored form is at most twice its length (WrittenPayload).
      const vouched = this.withinLimits(payloadJson, written.depth, payloadJson.length * 2, written.copyEscapes);
      if (vouched !== undefined) return vouched;
    }
    if (payloadJson !== undefined) return this.checkJsonText(typeof payloadJson === 'string' ? Buffer.from(payloadJson) : payloadJson, 'payload_json');
    if (payloadStructJson !== undefined) {
      const measured = event.payloadStructJsonMeasured;
      const vouched = measured && this.withinLimits(payloadStructJson, measured.depth, measured.storedBytes, measured.copyEscapes);
      return vouched ?? this.checkJsonText(payloadStructJson, 'payload');
    }
    if (payload === undefined) return EMPTY_OBJECT;
    const structProblem = inspectJsonValue(payload, this.limits.maxPayloadDepth);
    if (structProblem !== undefined) return `payload ${structProblem}`;
    const text = JSON.stringify(payload);
    const storedProblem = inspectStringifiedJson(text, this.jsonLimits);
    // JSON.stringify writes no raw tab, newline or carriage return: only its escapes' backslashes need COPY's.
    return storedProblem === undefined ? { json: Buffer.from(text), copyEscapes: text.includes('\\') } : `payload ${storedProblem}`;
  }

  /**
   * The fast path: the UTF-8 bytes are scanned once (syntax, encoding and
   * the stored form's limits together; see scan-json-bytes.ts) and then
   * stored as sent, never decoded or re-serialized. Bytes that are not
   * UTF-8 are decoded as protobuf strings are (U+FFFD for each bad
   * sequence) and scanned again. The bytes as sent are
   * not limited here (GRPC_MAX_RECEIVE_MESSAGE_SIZE bounds them).
   */
  private checkJsonText(json: Uint8Array, field: 'payload_json' | 'payload'): CheckedPayload | string {
    const scanned = this.scanner.scan(json);
    // Ill-formed UTF-8 is read as every string field of the message is: each bad sequence becomes U+FFFD.
    if (scanned === MALFORMED_UTF8) return this.checkJsonText(Buffer.from(lenientUtf8.decode(json)), field);
    return typeof scanned === 'string' ? `${field} ${scanned}` : { json, copyEscapes: scanned.copyEscapes };
  }
}

function checkEventId(eventId: string): string | undefined {
  if (eventId.length === 0) return `event_id is required (1..${EVENT_ID_MAX_LENGTH} printable ASCII characters)`;
  if (eventId.length > EVENT_ID_MAX_LENGTH) return `event_id is ${eventId.length} characters long; the limit is ${EVENT_ID_MAX_LENGTH}`;
  if (!EVENT_ID_PATTERN.test(eventId)) {
    const at = [...eventId].findIndex((char) => !EVENT_ID_PATTERN.test(char));
    return `event_id must be printable ASCII (U+0020..U+007E); character ${at} is ${describeChar(eventId.codePointAt(at) ?? 0)}`;
  }
  return undefined;
}

function checkEventType(eventType: string): string | undefined {
  if (eventType.length === 0) return `event_type is required (1..${EVENT_TYPE_MAX_LENGTH} characters of [a-z0-9_.:-])`;
  if (eventType.length > EVENT_TYPE_MAX_LENGTH) return `event_type is ${eventType.length} characters long; the limit is ${EVENT_TYPE_MAX_LENGTH}`;
  if (!EVENT_TYPE_PATTERN.test(eventType)) {
    const at = [...eventType].findIndex((char) => !EVENT_TYPE_PATTERN.test(char));
    return `event_type must be characters of [a-z0-9_.:-]; character ${at} is ${describeChar(eventType.codePointAt(at) ?? 0)}`;
  }
  return undefined;
}

function checkServiceName(serviceName: string): string | undefined {
  if (serviceName.length === 0) return `service_name is required (1..${SERVICE_NAME_MAX_LENGTH} characters)`;
  // UTF-16 length is at least the character count: count code points only when it could matter.
  const length = serviceName.length > SERVICE_NAME_MAX_LENGTH ? [...serviceName].length : serviceName.length;
  if (length > SERVICE_NAME_MAX_LENGTH) return `service_name is ${length} characters long; the limit is ${SERVICE_NAME_MAX_LENGTH}`;
  if (serviceName.includes('\0')) return 'service_name contains U+0000 (NUL), which PostgreSQL cannot store in text';
  if (hasUnpairedSurrogate(serviceName)) return 'service_name contains an unpaired UTF-16 surrogate';
  return undefined;
}

function describeChar(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  return codePoint >= 0x20 && codePoint !== 0x7f ? `${JSON.stringify(String.fromCodePoint(codePoint))} (${hex})` : hex;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
}
