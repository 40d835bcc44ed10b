import http2 from 'node:http2';
import { Client, credentials, Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { HealthCheckRequest, HealthCheckResponse, HealthCheckResponse_ServingStatus } from '../../src/gen/grpc/health/v1/health';
import { BadRequest } from '../../src/gen/google/rpc/error_details';
import { Status } from '../../src/gen/google/rpc/status';
import { RPC_PATHS, type CallOutcome, type FuzzRpc, type MetadataEntries } from './fuzz-case';

const identity = (bytes: Buffer): Buffer => bytes;
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';

/**
 * Sends request bytes as they are: a grpc-js client with identity
 * serializers (so that the server's decoder is the one that meets the bytes),
 * or plain HTTP/2 for metadata that grpc-js refuses to send. No limits on the
 * client's side: the server's limits are what is under test.
 */
export class FuzzClient {
  private readonly client: Client;
  private open = 0;

  constructor(private readonly address: string) {
    this.client = new Client(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // Each call should meet the server as sent, not be retried by the client.
      'grpc.enable_retries': 0,
    });
  }

  /** Calls not finished yet (every call must end: a hang shows here and as DEADLINE_EXCEEDED). */
  get inFlight(): number {
    return this.open;
  }

  /** One call of `rpc` carrying `messages` (one for unary and server-streaming RPCs). */
  async call(rpc: FuzzRpc, messages: readonly Uint8Array[], metadata: MetadataEntries, deadlineMs: number, raw = false): Promise<CallOutcome> {
    this.open++;
    const started = process.hrtime.bigint();
    try {
      const result = raw ? await this.rawCall(rpc, messages, metadata, deadlineMs) : await this.grpcCall(rpc, messages, toMetadata(metadata), deadlineMs);
      return { ...result, durationMs: Number(process.hrtime.bigint() - started) / 1e6 };
    } finally {
      this.open--;
    }
  }

  /** grpc.health.v1.Health/Check for the whole server: SERVING, NOT_SERVING, or the status name of a failed check. */
  async health(deadlineMs = 10_000): Promise<string> {
    const result = await this.grpcCall('health', [HealthCheckRequest.encode({ service: '' }).finish()], new Metadata(), deadlineMs);
    if (result.outcome !== 'OK') return `health check failed: ${result.outcome} ${result.details}`;
    return HealthCheckResponse_ServingStatus[HealthCheckResponse.decode(result.responses[0]!).status] ?? 'unknown serving status';
  }

  close(): void {
    this.client.close();
  }

  private grpcCall(rpc: FuzzRpc | 'health', messages: readonly Uint8Array[], metadata: Metadata, deadlineMs: number): Promise<Omit<CallOutcome, 'durationMs'>> {
    const path = rpc === 'health' ? '/grpc.health.v1.Health/Check' : RPC_PATHS[rpc];
    const options = { deadline: Date.now() + deadlineMs };
    return new Promise((resolve) => {
      const responses: Uint8Array[] = [];
      let headers = new Metadata();
      const finish = (result: StatusObject | ServiceError): void => {
        // The callback of a unary call may come after 'status': settle one turn later.
        setImmediate(() => resolve(outcomeOf(result.code, result.details, responses, { ...flatten(headers), ...flatten(result.metadata ?? new Metadata()) }, result.metadata?.get('grpc-status-details-bin')[0])));
      };
      const onUnary = (error: ServiceError | null, response?: Buffer): void => {
        if (error === null && response !== undefined) responses.push(response);
      };
      if (rpc === 'IngestStream') {
        const call = this.client.makeClientStreamRequest(path, identity, identity, metadata, options, onUnary);
        call.on('metadata', (m: Metadata) => (headers = m));
        call.on('status', finish);
        for (const message of messages) call.write(Buffer.from(message));
        call.end();
      } else if (rpc === 'StreamEvents') {
        const call = this.client.makeServerStreamRequest(path, identity, identity, Buffer.from(messages[0] ?? []), metadata, options);
        call.on('data', (chunk: Buffer) => responses.push(chunk));
        call.on('error', () => undefined);
        call.on('metadata', (m: Metadata) => (headers = m));
        call.on('status', finish);
      } else {
        const call = this.client.makeUnaryRequest(path, identity, identity, Buffer.from(messages[0] ?? []), metadata, options, onUnary);
        call.on('metadata', (m: Metadata) => (headers = m));
        call.on('status', finish);
      }
    });
  }

  /** A call over node:http2 with the headers exactly as given (repeated keys become repeated headers). */
  private rawCall(rpc: FuzzRpc, messages: readonly Uint8Array[], metadata: MetadataEntries, deadlineMs: number): Promise<Omit<CallOutcome, 'durationMs'>> {
    const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': RPC_PATHS[rpc], 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${deadlineMs}m` };
    // A grpc-timeout in the metadata replaces the deadline's.
    if (metadata.some(([key]) => key === 'grpc-timeout')) delete headers['grpc-timeout'];
    for (const [key, value] of metadata) {
      const text = typeof value === 'string' ? value : value.toString('base64');
      const previous = headers[key];
      headers[key] = previous === undefined ? text : [...(Array.isArray(previous) ? previous : [String(previous)]), text];
    }
    return new Promise((resolve) => {
      // No limit on the headers sent, as grpc-js clients: the server's HTTP/2 limits are the ones under test.
      const session = http2.connect(`http://${this.address}`, { maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER });
      const received: Record<string, string> = {};
      const chunks: Buffer[] = [];
      let settled = false;
      const settle = (result: Omit<CallOutcome, 'durationMs'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        session.close();
        resolve(result);
      };
      const timer = setTimeout(() => settle(outcomeOf(status.DEADLINE_EXCEEDED, 'no answer over HTTP/2 before the deadline', [], received, undefined)), deadlineMs + 5000);
      // A connection error (GOAWAY) also closes the stream, with the error's code: the stream's 'close' settles.
      session.on('error', () => undefined);
      const stream = session.request(headers);
      const keep = (incoming: http2.IncomingHttpHeaders): void => {
        for (const [key, value] of Object.entries(incoming)) if (typeof value === 'string') received[key] = value;
      };
      stream.on('response', keep);
      stream.on('trailers', keep);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => undefined);
      stream.on('close', () => {
        const code = received['grpc-status'];
        if (code === undefined) {
          settle({ outcome: `RST_STREAM:${rstCodeName(stream.rstCode)}`, details: `stream reset with code ${stream.rstCode}`, responses: [], badRequestFields: [], metadata: received });
          return;
        }
        const details = received['grpc-message'] === undefined ? '' : decodeURIComponent(received['grpc-message']);
        const statusDetails = received['grpc-status-details-bin'];
        settle(outcomeOf(Number(code), details, splitMessages(Buffer.concat(chunks)), received, statusDetails === undefined ? undefined : Buffer.from(statusDetails, 'base64')));
      });
      for (const message of messages) {
        const frame = Buffer.alloc(5 + message.length);
        frame.writeUInt32BE(message.length, 1);
        frame.set(message, 5);
        stream.write(frame);
      }
      stream.end();
    });
  }
}

function outcomeOf(code: number, details: string, responses: Uint8Array[], metadata: Record<string, string>, statusDetails: unknown): Omit<CallOutcome, 'durationMs'> {
  const badRequestFields: string[] = [];
  if (statusDetails instanceof Uint8Array) {
    for (const detail of Status.decode(statusDetails).details) {
      if (detail.typeUrl === BAD_REQUEST_TYPE) badRequestFields.push(...BadRequest.decode(detail.value).fieldViolations.map((violation) => violation.field));
    }
  }
  return { outcome: status[code] ?? `status ${code}`, details, responses, badRequestFields, metadata };
}

function toMetadata(entries: MetadataEntries): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of entries) metadata.add(key, value);
  return metadata;
}

function flatten(metadata: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) out[key] = typeof value === 'string' ? value : value.toString('base64');
  return out;
}

/** HTTP/2 error codes (RFC 9113, section 7), by number. */
const HTTP2_ERROR_CODES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

function rstCodeName(code: number | undefined): string {
  const name = code === undefined ? undefined : HTTP2_ERROR_CODES[code];
  return name === undefined ? String(code) : `NGHTTP2_${name}`;
}

/** The messages of a gRPC body: each a compression flag, a 4-byte length and the bytes. */
function splitMessages(body: Buffer): Uint8Array[] {
  const messages: Uint8Array[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}
