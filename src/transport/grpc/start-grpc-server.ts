import { readFileSync } from 'node:fs';
import { Server, ServerCredentials, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ConfigError } from '../../config/env-reader';
import type { Config, TlsFiles } from '../../config/load-config';
import { addReflection } from './add-reflection';
import { normalizeRequestHeaders } from './calls/normalize-request-headers';
import { widenConnectionWindow } from './connection-window';
import type { HealthStatusService } from './health-service';

export interface GrpcServices {
  readonly health: HealthStatusService;
  readonly services: readonly { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[];
  /** Server interceptors, in the order calls meet them (the first sees a call's metadata first and its status last). */
  readonly interceptors: readonly ServerInterceptor[];
  /** More ports (on the same host, credentials, services and interceptors) to listen on; 0 = a free one. */
  readonly extraPorts?: readonly number[];
  /** Told of the server once every port is bound, to hook its HTTP/2 servers (ReceivedMessages, ConnectionLimit). */
  readonly serverHooks?: readonly { track(server: Server): void }[];
}

/** The listening gRPC server and the port it got (GRPC_PORT=0 picks one). */
export interface StartedGrpcServer {
  readonly server: Server;
  readonly port: number;
  /** The ports bound for `extraPorts`, in their order. */
  readonly extraPorts: readonly number[];
}

/** Creates the gRPC server with health, reflection, the given services and interceptors, and binds it. */
export async function startGrpcServer(config: Config['grpc'], services: GrpcServices): Promise<StartedGrpcServer> {
  const credentials = serverCredentials(config.tls);
  const server = new Server({
    'grpc.max_receive_message_length': config.maxReceiveMessageBytes,
    // A backstop: pages and chunks are cut to fit it already (QueryService).
    'grpc.max_send_message_length': config.maxResponseBytes,
    'grpc.max_concurrent_streams': config.maxConcurrentStreams,
    'grpc.keepalive_time_ms': config.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': config.keepaliveTimeoutMs,
    'grpc.max_connection_idle_ms': config.maxConnectionIdleMs,
    'grpc.max_connection_age_ms': config.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGraceMs,
    // grpc-js wraps the last interceptor of its list outermost; ours lists them from the wire inwards.
    interceptors: [...services.interceptors],
  });
  services.health.addToServer(server);
  addReflection(server);
  for (const { definition, implementation } of services.services) server.addService(definition, implementation);
  const bind = (port: number): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      server.bindAsync(`${config.host}:${port}`, credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
    });
  const port = await bind(config.port);
  const extraPorts: number[] = [];
  for (const extra of services.extraPorts ?? []) extraPorts.push(await bind(extra));
  // After every bind: they hook each bound HTTP/2 server once.
  normalizeRequestHeaders(server);
  widenConnectionWindow(server, config.connectionWindowBytes);
  for (const hook of services.serverHooks ?? []) hook.track(server);
  return { server, port, extraPorts };
}

/** Plaintext by default (behind a mesh sidecar); TLS, or mutual TLS with a client CA, when configured. */
function serverCredentials(tls: TlsFiles | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const cert = readPem('TLS_CERT_FILE', tls.certFile);
  const key = readPem('TLS_KEY_FILE', tls.keyFile);
  const clientCa = tls.clientCaFile === undefined ? null : readPem('TLS_CLIENT_CA_FILE', tls.clientCaFile);
  return ServerCredentials.createSsl(clientCa, [{ cert_chain: cert, private_key: key }], clientCa !== null);
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError([`${variable} ${file} cannot be read: ${(error as Error).message}`]);
  }
}
