/**
 * The transport floor of the small-calls benchmark: a bare @grpc/grpc-js
 * server of IngestService/Ingest that decodes each request with the
 * generated codec and answers accepted = its event count, with no
 * interceptors, authentication, rate limit, validation, database or log.
 * What the same callers reach against it is the most any gRPC server in
 * Node.js can reach under that load generator on this machine (the load
 * generator's own CPU included), so the bench prints it next to the vault's
 * row. Run by run-bench.ts as a child process (VaultProcess.bareIngest);
 * prints the same "serving" line as `telemetry-vault serve`.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { IngestServiceService, type IngestRequest, type IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';

const server = new Server();
server.addService(IngestServiceService, {
  ingest: (call: ServerUnaryCall<IngestRequest, IngestResponse>, callback: sendUnaryData<IngestResponse>) => {
    callback(null, { accepted: call.request.events.length, duplicates: 0, rejected: 0, rejectedEvents: [] });
  },
  ingestStream: (_call: unknown, callback: sendUnaryData<IngestResponse>) => callback({ code: 12, details: 'the bare server serves only Ingest' }),
});
server.bindAsync(process.env.GRPC_HOST === undefined ? '127.0.0.1:0' : `${process.env.GRPC_HOST}:0`, ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`${JSON.stringify({ msg: 'telemetry vault serving (bare grpc-js Ingest)', grpcPort: port })}\n`);
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
