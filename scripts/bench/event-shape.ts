/**
 * The one event shape every benchmark path uses (PostgreSQL ceiling, naive
 * baseline, the vault, the query data set, and scripts/load): ~200-byte JSON
 * payloads, 8 tenants, 20 services, 3 event types. Deterministic: event `i`
 * of a run is the same on every path, so that every path stores the same rows.
 */
import type { Event } from '../../src/gen/telemetry/v1/event';

export const TENANT_COUNT = 8;
export const SERVICES = Array.from({ length: 20 }, (_, i) => `service-${String(i).padStart(2, '0')}`);
export const EVENT_TYPES = ['log', 'metric', 'trace'];
const LEVELS = ['debug', 'info', 'warn', 'error'];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
/** 2026-01-01T00:00:00Z in microseconds: in the past, so no timestamp is ever ahead of the server clock. */
export const BASE_MICROS = Date.UTC(2026, 0, 1) * 1000;
/** Events are this far apart: 1 000 000 events span ~139 hours (139 x 60 one-hour Aggregate rows, under its default 10 000-row bound). */
export const SPACING_MICROS = 500_000;

/** How a bench event's payload travels: payload_json (the SDK fast path) or payload (a Struct). */
export type PayloadMode = 'json' | 'struct';

/** One bench event, before it is encoded for a path. */
export interface BenchEvent {
  readonly eventId: string;
  readonly timestampMicros: number;
  readonly eventType: string;
  readonly serviceName: string;
  readonly payload: Record<string, unknown>;
  readonly payloadJson: string;
}

/** The payload object of event `i` (~200 bytes as JSON). */
function benchPayload(i: number): Record<string, unknown> {
  return {
    level: LEVELS[i % LEVELS.length]!,
    message: `request ${i} handled in ${(i * 37) % 1000} ms with status ${200 + (i % 5)}`,
    http: { method: i % 3 === 0 ? 'POST' : 'GET', path: `/api/v1/items/${i % 5000}`, status: 200 + (i % 5) },
    user_id: `u-${(i * 13) % 100000}`,
    region: REGIONS[i % REGIONS.length]!,
    duration_ms: (i * 37) % 1000,
  };
}

/** Event number `i` of a run; `run` keeps event ids unique across runs. */
export function benchEvent(run: string, i: number): BenchEvent {
  const payload = benchPayload(i);
  return {
    eventId: `${run}-${i.toString(36).padStart(8, '0')}`,
    timestampMicros: BASE_MICROS + i * SPACING_MICROS,
    eventType: EVENT_TYPES[i % EVENT_TYPES.length]!,
    serviceName: SERVICES[(i * 7) % SERVICES.length]!,
    payload,
    payloadJson: JSON.stringify(payload),
  };
}

/** The event as a telemetry.v1.Event for the generated client: payload_json (the SDK fast path) or payload (a Struct). */
export function toProtoEvent(event: BenchEvent, payloadMode: PayloadMode): Event {
  const micros = event.timestampMicros;
  const seconds = Math.floor(micros / 1e6);
  return {
    eventId: event.eventId,
    timestamp: { seconds, nanos: (micros - seconds * 1e6) * 1000 },
    eventType: event.eventType,
    serviceName: event.serviceName,
    ...(payloadMode === 'struct' ? { payload: event.payload } : { payloadJson: event.payloadJson }),
    receivedAt: undefined,
  };
}

/** The event as a COPY text row of the staging table (member 1, event_id, ts, event_type, service_name, payload); no field needs escaping. */
export function toCopyRow(event: BenchEvent): string {
  return `1\t${event.eventId}\t${new Date(event.timestampMicros / 1000).toISOString()}\t${event.eventType}\t${event.serviceName}\t${event.payloadJson}\n`;
}
