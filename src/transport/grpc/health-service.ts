import { status, type Server, type ServerWritableStream } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../../gen/grpc/health/v1/health';

export { HealthCheckResponse_ServingStatus as ServingStatus } from '../../gen/grpc/health/v1/health';

/**
 * grpc.health.v1.Health: Check, Watch and List over a per-service status map.
 * Needs no API key. Unknown services are NOT_FOUND for Check and
 * SERVICE_UNKNOWN for Watch, as the health protocol says.
 */
export class HealthStatusService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>>();

  constructor(services: readonly string[], initial: ServingStatus = ServingStatus.NOT_SERVING) {
    for (const service of services) this.statuses.set(service, initial);
  }

  /** Sets a service's status, telling its watchers when it changes. */
  set(service: string, next: ServingStatus): void {
    if (this.statuses.get(service) === next) return;
    this.statuses.set(service, next);
    for (const watcher of this.watchers.get(service) ?? []) watcher.write({ status: next });
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends every Watch stream (at shutdown, after the final statuses were sent), so that draining need not wait for them. */
  endWatches(): void {
    for (const set of this.watchers.values()) {
      for (const watcher of set) watcher.end();
      set.clear();
    }
  }

  addToServer(server: Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const found = this.statuses.get(call.request.service);
        if (found === undefined) {
          callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
          return;
        }
        callback(null, { status: found });
      },
      watch: (call) => {
        const service = call.request.service;
        const set = this.watchers.get(service) ?? new Set();
        this.watchers.set(service, set);
        set.add(call);
        const forget = (): void => {
          set.delete(call);
        };
        call.on('cancelled', forget);
        call.on('finish', forget);
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
      },
      list: (_call, callback) => {
        callback(null, { statuses: Object.fromEntries([...this.statuses].map(([service, current]) => [service, { status: current }])) });
      },
    };
    server.addService(HealthService, implementation);
  }
}
