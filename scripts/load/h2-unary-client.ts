/**
 * A lean gRPC client of IngestService/Ingest, written straight on node:http2
 * (as h2load or ghz drive a server): one HTTP/2 connection, one stream per
 * call, the request already framed, the response checked by its grpc-status
 * trailer and decoded with the generated codec. It speaks the same wire
 * protocol as @grpc/grpc-js's client at a fraction of its CPU per call, so
 * that on a small machine the load generator takes less of the CPU the
 * server under test needs (docs/performance.md, "Small unary calls").
 */
import http2 from 'node:http2';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { IngestResponse } from '../../src/gen/telemetry/v1/ingest_service';
import type { IngestClient } from './ingest-driver';

type IngestCallback = (error: ServiceError | null, response: IngestResponse) => void;

/** The unary half of IngestClient (what the load's unary workers call). */
export type UnaryIngestClient = Pick<IngestClient, 'ingest' | 'close'>;

const PATH = '/telemetry.v1.IngestService/Ingest';

/** A client of `target` (host:port, plaintext HTTP/2). */
export function createH2IngestClient(target: string): UnaryIngestClient {
  let session: http2.ClientHttp2Session | undefined;
  const connect = (): http2.ClientHttp2Session => {
    if (session !== undefined && !session.closed && !session.destroyed) return session;
    const opened = http2.connect(`http://${target}`, { settings: { initialWindowSize: 4 * 1024 * 1024 } });
    opened.on('error', () => undefined); // each stream reports its own failure
    opened.on('close', () => {
      if (session === opened) session = undefined;
    });
    opened.unref();
    session = opened;
    return opened;
  };
  return {
    ingest(request: Buffer, metadata: Metadata, callback: IngestCallback) {
      const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' };
      for (const [key, value] of Object.entries(metadata.getMap())) headers[key] = String(value);
      const stream = connect().request(headers);
      const chunks: Buffer[] = [];
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let done = false;
      const finish = (trailers: http2.IncomingHttpHeaders): void => {
        if (done) return;
        done = true;
        const all = { ...responseHeaders, ...trailers };
        const code = Number(all['grpc-status'] ?? status.UNKNOWN);
        if (code !== status.OK) {
          callback(failure(code, decodeURIComponent(String(all['grpc-message'] ?? '')), all), IngestResponse.fromPartial({}));
          return;
        }
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          callback(failure(status.INTERNAL, `a response of ${body.length} bytes is not one uncompressed gRPC message`, all), IngestResponse.fromPartial({}));
          return;
        }
        callback(null, IngestResponse.decode(body.subarray(5)));
      };
      stream.on('response', (received) => (responseHeaders = received));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('trailers', finish);
      stream.on('end', () => finish({}));
      stream.on('error', (error: Error) => {
        if (!done) {
          done = true;
          callback(failure(status.UNAVAILABLE, error.message, {}), IngestResponse.fromPartial({}));
        }
      });
      const framed = Buffer.allocUnsafe(5 + request.length);
      framed[0] = 0;
      framed.writeUInt32BE(request.length, 1);
      request.copy(framed, 5);
      stream.end(framed);
    },
    close() {
      session?.close();
    },
  } as UnaryIngestClient;
}

function failure(code: number, details: string, headers: http2.IncomingHttpHeaders): ServiceError {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) if (!key.startsWith(':') && typeof value === 'string') metadata.set(key, value);
  return Object.assign(new Error(`${code} ${status[code] ?? ''}: ${details}`), { code, details, metadata }) as ServiceError;
}
