import type { Readiness } from '../transport/http/start-http-server';
import { HealthStatusService, ServingStatus } from '../transport/grpc/health-service';
import type { Feature } from './feature';
import type { Platform } from './platform';

/** grpc.health.v1.Health over the features' services, and /readyz. */
export interface HealthFeature {
  readonly service: HealthStatusService;
  readiness(): Readiness;
  /** From now on every service reports NOT_SERVING and /readyz 503; Watch streams are ended so that draining need not wait for them. */
  shuttingDown(): void;
}

/**
 * Each service is SERVING while the database it needs answers its probe
 * (ingest: the primary; query: the read database) and the server is not
 * shutting down; the overall status `""` needs every database.
 */
export function createHealthFeature(platform: Platform, features: readonly Feature[]): HealthFeature {
  const { probes } = platform;
  const services = features.flatMap((feature) => feature.services.map((service) => service.health));
  const service = new HealthStatusService(['', ...services.map((entry) => entry.name)]);
  let stopping = false;
  const update = (): void => {
    const status = (up: boolean): ServingStatus => (up && !stopping ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    for (const entry of services) service.set(entry.name, status(probes[entry.database].reachable));
    service.set('', status(probes.primary.reachable && probes.read.reachable));
  };
  for (const probe of new Set(Object.values(probes))) probe.onChange(update);
  update();
  return {
    service,
    readiness: () => {
      const checks = { database: probes.primary.reachable, readDatabase: probes.read.reachable, acceptingCalls: !stopping };
      return { ready: Object.values(checks).every(Boolean), checks };
    },
    shuttingDown: () => {
      stopping = true;
      update();
      service.endWatches();
    },
  };
}
