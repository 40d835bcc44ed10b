import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Config } from '../../config/load-config';
import { addReflection } from './add-reflection';
import type { HealthStatusService } from './health-service';

export interface GrpcServices {
  readonly health: HealthStatusService;
  readonly services: readonly { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[];
}

/** The listening gRPC server and the port it got (GRPC_PORT=0 picks one). */
export interface StartedGrpcServer {
  readonly server: Server;
  readonly port: number;
}

/** Creates the gRPC server with health, reflection and the given services, and binds it. */
export async function startGrpcServer(config: Config['grpc'], services: GrpcServices): Promise<StartedGrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': config.maxReceiveMessageBytes,
  });
  services.health.addToServer(server);
  addReflection(server);
  for (const { definition, implementation } of services.services) server.addService(definition, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  return { server, port };
}
