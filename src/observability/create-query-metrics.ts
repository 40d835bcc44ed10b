import { Counter, Gauge, type Registry } from 'prom-client';
import type { StreamObserver } from '../domain/query/query-service';

/** StreamEvents metrics, on the server's registry. */
export interface QueryMetrics {
  /** Events read from the database by StreamEvents calls. */
  readonly streamRowsRead: Counter;
  /** StreamEvents calls waiting for their client to take more (flow control). */
  readonly streamsWaitingForClient: Gauge;
  /** The same, as the hooks QueryService calls. */
  readonly streamObserver: StreamObserver;
}

export function createQueryMetrics(registry: Registry): QueryMetrics {
  const streamRowsRead = new Counter({
    name: 'telemetry_vault_query_stream_rows_read_total',
    help: 'Events read from the database by StreamEvents calls',
    registers: [registry],
  });
  const streamsWaitingForClient = new Gauge({
    name: 'telemetry_vault_query_streams_waiting_for_client',
    help: 'StreamEvents calls paused until their client reads more (flow control)',
    registers: [registry],
  });
  return {
    streamRowsRead,
    streamsWaitingForClient,
    streamObserver: {
      rowsRead: (count) => streamRowsRead.inc(count),
      waitingForClient: (delta) => (delta > 0 ? streamsWaitingForClient.inc() : streamsWaitingForClient.dec()),
    },
  };
}
