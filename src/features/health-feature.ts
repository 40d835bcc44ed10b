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
 * (ingest: the primary; query: the read replica, or the primary while the
 * replica is down, see ReadFailover) and the server is not shutting down; the
 * overall status `""` needs both.
 */
export function createHealthFeature(platform: Platform, features: readonly Feature[]): HealthFeature {
  const { probes } = platform;
  const services = features.flatMap((feature) => feature.services.map((service) => service.health));
  const service = new HealthStatusService(['', ...services.map((entry) => entry.name)]);
  let stopping = false;
  // Reads fail over to the primary while a replica is down (ReadFailover): they are served while either answers.
  const up = { primary: (): boolean => probes.primary.reachable, read: (): boolean => probes.read.reachable || probes.primary.reachable };
  const update = (): void => {
    const status = (serving: boolean): ServingStatus => (serving && !stopping ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    for (const entry of services) service.set(entry.name, status(up[entry.database]()));
    service.set('', status(up.primary() && up.read()));
  };
  for (const probe of new Set(Object.values(probes))) probe.onChange(update);
  update();
  return {
    service,
    readiness: () => {
      const checks = { database: probes.primary.reachable, readDatabase: probes.read.reachable, acceptingCalls: !stopping };
      // A replica that is down only moves reads to the primary; it does not make the instance unready.
      return { ready: checks.database && checks.acceptingCalls && up.read(), checks };
    },
    shuttingDown: () => {
      stopping = true;
      update();
      service.endWatches();
    },
  };
}
