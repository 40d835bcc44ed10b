import { Gauge, type Registry } from 'prom-client';

/** What the live tail gauges read at every scrape. */
export interface LiveTailState {
  /** Follow calls in progress on this instance. */
  readonly followers: number;
  /** Tenants this instance has registered (their writers notify). */
  readonly tenants: number;
  /** Bytes of new events followers hold for clients that have not read them (of FOLLOW_BUFFERS_MAX_BYTES). */
  readonly bufferedBytes: number;
}

/** `telemetry_vault_live_tail_followers`, `_tenants` and `_buffered_bytes`, read from the hub at every scrape. */
export function registerLiveTailGauges(registry: Registry, state: () => LiveTailState): void {
  new Gauge({
    name: 'telemetry_vault_live_tail_followers',
    help: 'StreamEvents calls following new events (follow set) on this instance',
    registers: [registry],
    collect() {
      this.set(state().followers);
    },
  });
  new Gauge({
    name: 'telemetry_vault_live_tail_tenants',
    help: 'Tenants this instance follows: writers send commit notices for them',
    registers: [registry],
    collect() {
      this.set(state().tenants);
    },
  });
  new Gauge({
    name: 'telemetry_vault_live_tail_buffered_bytes',
    help: 'Bytes of new events this instance\'s followers hold for clients that have not read them yet (at most FOLLOW_BUFFERS_MAX_BYTES)',
    registers: [registry],
    collect() {
      this.set(state().bufferedBytes);
    },
  });
}
