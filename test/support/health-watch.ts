import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthClient, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health';

/** One grpc.health.v1.Health/Check of the overall status (service "") of the server on 127.0.0.1:`grpcPort`. */
export function checkHealth(grpcPort: number): Promise<ServingStatus> {
  const client = new HealthClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.check({ service: '' }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response.status);
    }),
  );
}

/** One status a Watch stream reported, and when it arrived. */
export interface HealthTransition {
  readonly status: keyof typeof ServingStatus;
  readonly at: number;
}

/**
 * grpc.health.v1.Health/Watch on one service, as a load balancer would hold
 * it: records every status the server reports, with the time it arrived.
 */
export class HealthWatch {
  readonly transitions: HealthTransition[] = [];
  private readonly client: HealthClient;
  private readonly call: ClientReadableStream<HealthCheckResponse>;

  constructor(address: string, service: string) {
    this.client = new HealthClient(address, credentials.createInsecure());
    this.call = this.client.watch({ service });
    this.call.on('data', (response: HealthCheckResponse) => {
      this.transitions.push({ status: ServingStatus[response.status] as keyof typeof ServingStatus, at: Date.now() });
    });
    // The stream ends with an error when the server goes away; what it reported until then stays.
    this.call.on('error', () => undefined);
  }

  /** The statuses in order, e.g. ['SERVING', 'NOT_SERVING', 'SERVING']. */
  get statuses(): string[] {
    return this.transitions.map((transition) => transition.status);
  }

  /** When the watch first reported `status` at or after `since`. */
  firstAfter(status: keyof typeof ServingStatus, since: number): number | undefined {
    return this.transitions.find((transition) => transition.status === status && transition.at >= since)?.at;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
