/**
 * The one event shape every benchmark uses: ~200-byte JSON payloads, 8
 * tenants, 20 services, 3 event types. Deterministic for a given seed, so that
 * every path stores the same rows.
 */
export const TENANT_COUNT = 8;
export const SERVICES = Array.from({ length: 20 }, (_, i) => `service-${String(i).padStart(2, '0')}`);
export const EVENT_TYPES = ['log', 'metric', 'trace'] as const;

export interface BenchEvent {
  readonly eventId: string;
  /** Microseconds since the epoch. */
  readonly timestampMicros: number;
  readonly eventType: string;
  readonly serviceName: string;
  readonly payloadJson: string;
}

const LEVELS = ['debug', 'info', 'warn', 'error'];
const BASE_MICROS = Date.UTC(2026, 0, 1) * 1000;

/** Event number `i` of a run (`run` keeps event ids unique across runs). */
export function benchEvent(run: string, i: number): BenchEvent {
  const eventType = EVENT_TYPES[i % EVENT_TYPES.length]!;
  const serviceName = SERVICES[(i * 7) % SERVICES.length]!;
  const payload = {
    level: LEVELS[i % LEVELS.length],
    message: `request ${i} handled in ${(i * 37) % 1000} ms with status ${200 + (i % 5)}`,
    http: { method: i % 3 === 0 ? 'POST' : 'GET', path: `/api/v1/items/${i % 5000}`, status: 200 + (i % 5) },
    user_id: `u-${(i * 13) % 100000}`,
    region: ['eu-west-1', 'us-east-1', 'ap-south-1'][i % 3],
  };
  return {
    eventId: `${run}-${i.toString(36).padStart(8, '0')}`,
    timestampMicros: BASE_MICROS + i * 1000,
    eventType,
    serviceName,
    payloadJson: JSON.stringify(payload),
  };
}
