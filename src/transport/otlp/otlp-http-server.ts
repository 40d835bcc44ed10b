import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Status } from '../../gen/google/rpc/status';
import type { CallAuthentication } from '../../domain/auth/call-authentication';
import { clientAddressOf } from '../../domain/auth/client-address';
import type { AuthenticatedContext } from '../../domain/call-context';
import type { OtlpSignal } from '../../domain/otlp/otlp-model';
import type { OtlpReceiver } from '../../domain/otlp/otlp-receiver';
import type { RateLimitStatus } from '../../domain/rate-limit/rate-limiter';
import { VaultError } from '../../domain/vault-error';
import type { Logger } from '../../observability/create-logger';
import { STATUS_DETAILS_KEY, toGrpcStatus } from '../grpc/to-grpc-status';
import { createGuardedServer, listenOn, type HttpListenerLimits } from '../http/guarded-http-server';
import type { ConnectionLimit } from '../connection-limit';
import type { ReceiveBudget } from '../receive-budget';
import { exportRecords, type OtlpObserver } from './otlp-export';
import { decodeBinary, decodeJson, encodeResponseBinary, encodeResponseJson, OTLP_SCHEMAS } from './otlp-schemas';

const gunzipAsync = promisify(gunzip);

export interface OtlpHttpOptions {
  readonly host: string;
  readonly port: number;
  /** GRPC_MAX_RECEIVE_MESSAGE_SIZE: the most bytes a body may hold, before and after gzip. */
  readonly maxBodyBytes: number;
  /** GRPC_RECEIVE_BUDGET, shared with the gRPC calls: a body holds its bytes (and, gzipped, what it may inflate to) until its answer. */
  readonly receiveBudget: ReceiveBudget;
  /** GRPC_MAX_CONNECTIONS, as on the gRPC ports. */
  readonly connectionLimit: ConnectionLimit;
  readonly authentication: CallAuthentication;
  /** AUTH_FAILURE_PEER_HEADER, as for gRPC calls. */
  readonly peerHeader: string | undefined;
  readonly receiver: OtlpReceiver;
  readonly observer: OtlpObserver;
  readonly logger: Logger;
}

export interface StartedOtlpHttpServer {
  readonly port: number;
  /** Stops accepting, lets requests in flight finish, then closes idle connections. */
  close(): Promise<void>;
}

const SIGNAL_BY_PATH = new Map<string, OtlpSignal>(Object.values(OTLP_SCHEMAS).map((schema) => [schema.httpPath, schema.signal]));
const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** An HTTP answer decided before or instead of the export (status, message, extra headers). */
class HttpRefusal extends Error {
  /** A google.rpc.Status with details (RetryInfo...), for protobuf answers. */
  detailsBin: Buffer | undefined;

  constructor(
    readonly httpStatus: number,
    readonly code: grpcStatus,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * OTLP/HTTP (contract section 9): POST /v1/logs, /v1/traces, /v1/metrics,
 * protobuf or JSON bodies, optionally gzip. Admission is that of native
 * ingest (the same API keys, failure limiter and buckets, through the same
 * OtlpReceiver). Failures answer a google.rpc.Status in the request's
 * encoding, with the HTTP status the OTLP spec gives the exporter's retry
 * rules: 400 malformed (not retried), 401 no valid key, 413 body over the
 * limit, 415 unsupported type or encoding, 429 throttled and 503 database
 * down (both retried, with Retry-After). Nothing a client sends throws out
 * of the handler.
 */
/** Exporters send one request at a time per connection and may take a while over a large body. */
const OTLP_HTTP_LIMITS: HttpListenerLimits = { headersTimeoutMs: 30_000, requestTimeoutMs: 120_000 };

export async function startOtlpHttpServer(options: OtlpHttpOptions): Promise<StartedOtlpHttpServer> {
  const server = createGuardedServer(OTLP_HTTP_LIMITS, options.logger, (req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      options.logger.error({ err: error }, 'OTLP/HTTP handler failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      else res.destroy();
    });
  });
  options.connectionLimit.limit(server, 'OTLP/HTTP');
  const port = await listenOn(server, options.host, options.port);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function handle(options: OtlpHttpOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const signal = SIGNAL_BY_PATH.get(path);
  const json = mediaType(req.headers['content-type']) === JSON_TYPE;
  const logger = options.logger.child({ requestId: randomUUID(), method: `POST ${path}` });
  // The events bucket as the export last took it: x-ratelimit-* on every authenticated answer, as on gRPC.
  let rateLimit: RateLimitStatus | undefined;
  // The body's bytes held of GRPC_RECEIVE_BUDGET, under the tenant's share once authenticated (before any is read).
  let held = 0;
  let holder: string | undefined;
  const hold = (bytes: number): void => {
    if (!options.receiveBudget.tryTake(bytes, holder)) throw options.receiveBudget.overloaded(bytes, holder);
    held += bytes;
  };
  try {
    if (signal === undefined) throw new HttpRefusal(404, grpcStatus.NOT_FOUND, `no OTLP endpoint at ${path.slice(0, 100)}: POST to /v1/logs, /v1/traces or /v1/metrics`);
    if (req.method !== 'POST') throw new HttpRefusal(405, grpcStatus.UNIMPLEMENTED, `${path} takes POST only`, { allow: 'POST' });
    const type = mediaType(req.headers['content-type']);
    if (type !== PROTOBUF && type !== JSON_TYPE) {
      throw new HttpRefusal(415, grpcStatus.INVALID_ARGUMENT, `Content-Type must be ${PROTOBUF} or ${JSON_TYPE}, not ${JSON.stringify((type ?? '').slice(0, 100))}`);
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') throw new HttpRefusal(415, grpcStatus.INVALID_ARGUMENT, `Content-Encoding must be gzip or none, not ${JSON.stringify(encoding.slice(0, 100))}`);

    const principal = await authenticate(options, req);
    holder = principal.tenant.id;
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new VaultError('CANCELLED', 'the client closed the request'));
    });
    const ctx: AuthenticatedContext = {
      requestId: randomUUID(),
      method: `POST ${path}`,
      peer: `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`,
      logger: logger.child({ tenantId: principal.tenant.id }),
      deadline: undefined,
      signal: controller.signal,
      principal,
      tenant: principal.tenant,
    };
    let request: ReturnType<typeof decodeBinary>;
    try {
      request = decode(signal, await readBody(req, options.maxBodyBytes, encoding === 'gzip', hold), json);
    } catch (error) {
      // A body refused as malformed or too large still spends the calls token, as a native unary call's does.
      await options.receiver.refused(ctx, error, (status) => {
        rateLimit = status;
      });
      throw error;
    }
    const outcome = await exportRecords(options.receiver, options.observer, 'http', ctx, signal, request, (status) => {
      rateLimit = status;
    });
    const payload = json ? encodeResponseJson(signal, outcome.rejected, outcome.errorMessage) : Buffer.from(encodeResponseBinary(signal, outcome.rejected, outcome.errorMessage));
    res.writeHead(200, { 'content-type': json ? JSON_TYPE : PROTOBUF, ...rateLimitHeaders(rateLimit) }).end(payload);
    logger.info({ httpStatus: 200, tenantId: principal.tenant.id, records: outcome.records, rejected: outcome.rejected }, 'OTLP/HTTP request finished');
  } catch (error) {
    const refusal = error instanceof HttpRefusal ? error : refusalOf(error, logger);
    logger.info({ httpStatus: refusal.httpStatus, reason: refusal.message }, 'OTLP/HTTP request refused');
    // Unread bytes of a refused body are dropped, not read: the connection closes after the answer.
    const keepAlive = req.complete;
    Object.assign(refusal.headers, rateLimitHeaders(rateLimit));
    const statusBody = json ? JSON.stringify({ code: refusal.code, message: refusal.message }) : Buffer.from(Status.encode({ code: refusal.code, message: refusal.message, details: [] }).finish());
    if (refusal.detailsBin !== undefined && !json) {
      res.writeHead(refusal.httpStatus, { 'content-type': PROTOBUF, ...refusal.headers, ...(keepAlive ? {} : { connection: 'close' }) }).end(refusal.detailsBin);
      return;
    }
    res.writeHead(refusal.httpStatus, { 'content-type': json ? JSON_TYPE : PROTOBUF, ...refusal.headers, ...(keepAlive ? {} : { connection: 'close' }) }).end(statusBody);
  } finally {
    options.receiveBudget.give(held, holder);
  }
}

function rateLimitHeaders(rateLimit: RateLimitStatus | undefined): Record<string, string> {
  if (rateLimit === undefined) return {};
  return {
    'x-ratelimit-limit': String(rateLimit.limit),
    'x-ratelimit-remaining': String(Math.max(0, rateLimit.remaining)),
    'x-ratelimit-reset': String(Math.ceil(rateLimit.resetAtMs / 1000)),
  };
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]!.trim().toLowerCase();
}

/** The request's one API key: x-api-key or authorization: Bearer (two different keys = none). */
function apiKeyOf(req: IncomingMessage): string | undefined {
  const keys = new Set<string>();
  const values = (name: string): string[] => {
    const raw = req.headersDistinct[name] ?? [];
    return raw.flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '');
  };
  for (const value of values('x-api-key')) keys.add(value);
  for (const value of values('authorization')) {
    const bearer = BEARER.exec(value);
    if (bearer) keys.add(bearer[1]!);
  }
  return keys.size === 1 ? keys.values().next().value : undefined;
}

async function authenticate(options: OtlpHttpOptions, req: IncomingMessage): Promise<AuthenticatedContext['principal']> {
  const address = (): string => {
    if (options.peerHeader !== undefined) {
      const forwarded = req.headersDistinct[options.peerHeader]?.at(-1)?.split(',').at(-1)?.trim();
      if (forwarded !== undefined && net.isIP(forwarded) !== 0) return clientAddressOf(forwarded, false);
    }
    return clientAddressOf(req.socket.remoteAddress ?? 'unknown', false);
  };
  return options.authentication.authenticate({ apiKey: apiKeyOf(req), address });
}

/**
 * The body, gunzipped when `gzip`; refuses with 413 naming the limit past
 * `maxBytes` (before or after gzip). Each chunk is held (`hold`, which throws
 * when the receive budget cannot take it) before it is kept, and a gzipped
 * body holds `maxBytes` more, what it may inflate to, before it is inflated.
 */
async function readBody(req: IncomingMessage, maxBytes: number, gzip: boolean, hold: (bytes: number) => void): Promise<Buffer> {
  const tooLarge = (what: string): HttpRefusal =>
    new HttpRefusal(413, grpcStatus.RESOURCE_EXHAUSTED, `the ${what} is over ${maxBytes} bytes (GRPC_MAX_RECEIVE_MESSAGE_SIZE, which limits OTLP/HTTP bodies as it does gRPC messages): send smaller batches`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge('body');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge('body');
      hold(chunk.length);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof HttpRefusal || error instanceof VaultError) throw error;
    // The client went away mid-body: nobody is left to answer, and it is not a server fault.
    throw new HttpRefusal(400, grpcStatus.INVALID_ARGUMENT, `the body could not be read: ${(error as Error).message}`);
  }
  const body = Buffer.concat(chunks, size);
  if (!gzip) return body;
  hold(maxBytes);
  try {
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) throw tooLarge('gunzipped body');
    throw new HttpRefusal(400, grpcStatus.INVALID_ARGUMENT, `the body is not valid gzip: ${(error as Error).message}`);
  }
}

function decode(signal: OtlpSignal, body: Buffer, json: boolean): ReturnType<typeof decodeBinary> {
  const typeName = OTLP_SCHEMAS[signal].request.typeName;
  try {
    return json ? decodeJson(signal, JSON.parse(body.toString('utf8'))) : decodeBinary(signal, body);
  } catch (error) {
    throw new HttpRefusal(400, grpcStatus.INVALID_ARGUMENT, `the request is not a valid ${typeName} in ${json ? 'OTLP/JSON' : 'protobuf'}: ${(error as Error).message.slice(0, 300)}`);
  }
}

const HTTP_STATUS: Partial<Record<grpcStatus, number>> = {
  [grpcStatus.INVALID_ARGUMENT]: 400,
  [grpcStatus.UNAUTHENTICATED]: 401,
  [grpcStatus.PERMISSION_DENIED]: 403,
  [grpcStatus.RESOURCE_EXHAUSTED]: 429,
  [grpcStatus.UNAVAILABLE]: 503,
  [grpcStatus.DEADLINE_EXCEEDED]: 504,
  [grpcStatus.CANCELLED]: 499,
};

/** A failure of admission or of the export as an HTTP answer: the gRPC status the same failure gets, and its HTTP counterpart. */
function refusalOf(error: unknown, logger: Logger): HttpRefusal {
  if (!(error instanceof VaultError)) logger.error({ err: error }, 'OTLP/HTTP export failed');
  const status = toGrpcStatus(error);
  const retryAfter = status.metadata.get('retry-after')[0];
  // 429 without Retry-After would make an exporter retry at once: throttling always names a delay.
  const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
  const httpStatus = HTTP_STATUS[status.code] ?? 500;
  const refusal: HttpRefusal = new HttpRefusal(httpStatus, status.code, status.details, headers);
  const details = status.metadata.get(STATUS_DETAILS_KEY)[0];
  if (Buffer.isBuffer(details)) refusal.detailsBin = details;
  return refusal;
}
