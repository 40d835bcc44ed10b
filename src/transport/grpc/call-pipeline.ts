import { randomUUID } from 'node:crypto';
import {
  Metadata,
  status,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
} from '@grpc/grpc-js';
import type { CallContext } from '../../domain/call-context';
import { VaultError } from '../../domain/vault-error';
import type { Logger } from '../../observability/create-logger';
import { currentTraceId } from '../../observability/with-span';
import { limitWriteAhead } from './limit-write-ahead';
import { assertWellFormed, type MalformedMessage } from './malformed-message';
import { toGrpcStatus } from './to-grpc-status';

/** What every call goes through before its handler runs. */
export interface CallAdmission {
  /**
   * Authenticates and admits the call (rate limits), filling ctx.tenant; may
   * add response metadata. Throws a VaultError to refuse the call.
   */
  admit(ctx: CallContext, metadata: Metadata, responseMetadata: Metadata): Promise<void>;
}

/** How a call ended, for metrics. */
export interface CallOutcome {
  readonly code: status;
  readonly durationSeconds: number;
  /** The ErrorInfo reason of a failed call's VaultError, if it had one (e.g. RATE_LIMITED_EVENTS). */
  readonly reason: string | undefined;
}

export interface CallPipelineOptions {
  readonly logger: Logger;
  /** Authentication and admission; calls are admitted as they are when omitted (health-style services). */
  readonly admission?: CallAdmission;
  /** Called once per finished call. */
  readonly onFinish?: (ctx: CallContext, outcome: CallOutcome) => void;
}

/** A call in flight: its context and the metadata to send back with the response. */
interface CallState {
  readonly ctx: CallContext;
  /** Aborts ctx.signal: the client cancelled, the deadline passed, or the server fails the call (shutdown). */
  readonly controller: AbortController;
  readonly responseMetadata: Metadata;
  readonly startedAt: bigint;
  headersSent: boolean;
  finished: boolean;
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerWritableStream<unknown, unknown>;

const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * Wraps gRPC handlers with what every call needs: a CallContext (request id,
 * child logger, deadline, cancellation signal), admission (authentication and
 * rate limits), response metadata, the mapping of errors to statuses, and one
 * log line per finished call.
 */
export class CallPipeline {
  /** Calls begun and not yet finished. */
  private readonly inFlight = new Set<CallState>();

  constructor(private readonly options: CallPipelineOptions) {}

  /**
   * Fails every call in flight with `reason`: their signals abort, so their
   * handlers stop (rolling back what they have not committed) and the calls
   * end with `reason`'s status. Returns how many calls there were. Used when
   * the shutdown grace period is over, so that the clients are told to retry
   * (UNAVAILABLE) rather than see their calls reset.
   */
  abortInFlight(reason: VaultError): number {
    const calls = [...this.inFlight];
    for (const state of calls) state.controller.abort(reason);
    return calls.length;
  }

  /**
   * A unary handler: resolves with the response. `responseMetadata` (filled
   * by admission) goes out with the response, or as trailers when the call
   * fails; the handler may still change it.
   */
  unary<Req, Res>(
    method: string,
    handler: (request: Req, ctx: CallContext, call: ServerUnaryCall<Req, Res>, responseMetadata: Metadata) => Promise<Res>,
  ): handleUnaryCall<Req | MalformedMessage, Res> {
    return (call, callback) => {
      const state = this.begin(method, call as AnyCall);
      void (async () => {
        try {
          const request = assertWellFormed(call.request);
          await this.admit(state, call.metadata);
          const response = await handler(request, state.ctx, call as ServerUnaryCall<Req, Res>, state.responseMetadata);
          this.sendHeaders(state, call as AnyCall);
          callback(null, response);
          this.finish(state, status.OK);
        } catch (error) {
          const failure = this.failure(state, error);
          callback(failure);
          this.finish(state, failure.code, error);
        }
      })();
    };
  }

  /**
   * A client-streaming handler: reads the stream, resolves with the response.
   * No headers go out before the response, so the handler may change
   * `responseMetadata` until it resolves or throws (rate-limit status, say).
   */
  clientStream<Req, Res>(
    method: string,
    handler: (call: ServerReadableStream<Req | MalformedMessage, Res>, ctx: CallContext, responseMetadata: Metadata) => Promise<Res>,
  ): handleClientStreamingCall<Req | MalformedMessage, Res> {
    return (call, callback) => {
      const state = this.begin(method, call as AnyCall);
      void (async () => {
        try {
          await this.admit(state, call.metadata);
          const response = await handler(call, state.ctx, state.responseMetadata);
          this.sendHeaders(state, call as AnyCall);
          callback(null, response);
          this.finish(state, status.OK);
        } catch (error) {
          const failure = this.failure(state, error);
          callback(failure);
          this.finish(state, failure.code, error);
        }
      })();
    };
  }

  /**
   * A server-streaming handler: writes responses through `send`, which sends
   * the headers first and resolves when the stream can take more (flow
   * control); the call ends with OK when the handler resolves.
   */
  serverStream<Req, Res>(
    method: string,
    handler: (request: Req, ctx: CallContext, send: (response: Res) => Promise<void>) => Promise<void>,
  ): handleServerStreamingCall<Req | MalformedMessage, Res> {
    return (call) => {
      const state = this.begin(method, call as AnyCall);
      limitWriteAhead(call);
      const send = (response: Res): Promise<void> => {
        if (state.ctx.signal.aborted) return Promise.reject(state.ctx.signal.reason);
        this.sendHeaders(state, call as AnyCall);
        if (call.write(response)) return Promise.resolve();
        return waitForDrain(call, state.ctx.signal);
      };
      void (async () => {
        try {
          const request = assertWellFormed(call.request);
          await this.admit(state, call.metadata);
          await handler(request, state.ctx, send);
          this.sendHeaders(state, call as AnyCall);
          call.end();
          this.finish(state, status.OK);
        } catch (error) {
          const failure = this.failure(state, error);
          call.emit('error', failure);
          this.finish(state, failure.code, error);
        }
      })();
    };
  }

  private begin(method: string, call: AnyCall): CallState {
    const sent = call.metadata.get('x-request-id')[0];
    const requestId = typeof sent === 'string' && REQUEST_ID_PATTERN.test(sent) ? sent : randomUUID();
    const deadlineValue = call.getDeadline();
    const deadlineMs = deadlineValue instanceof Date ? deadlineValue.getTime() : deadlineValue;
    const deadline = Number.isFinite(deadlineMs) ? deadlineMs : undefined;
    const controller = new AbortController();
    (call as NodeJS.EventEmitter).on('cancelled', () => {
      const reason =
        deadline !== undefined && Date.now() >= deadline
          ? new VaultError('DEADLINE_EXCEEDED', 'the call ran past its deadline')
          : new VaultError('CANCELLED', 'the client cancelled the call');
      controller.abort(reason);
    });
    const traceId = currentTraceId() ?? traceIdOf(call.metadata);
    const ctx: CallContext = {
      requestId,
      method,
      peer: call.getPeer(),
      logger: this.options.logger.child(traceId ? { requestId, method, traceId } : { requestId, method }),
      deadline,
      signal: controller.signal,
      tenant: undefined,
    };
    const responseMetadata = new Metadata();
    responseMetadata.set('x-request-id', requestId);
    const state: CallState = { ctx, controller, responseMetadata, startedAt: process.hrtime.bigint(), headersSent: false, finished: false };
    this.inFlight.add(state);
    return state;
  }

  private async admit(state: CallState, metadata: Metadata): Promise<void> {
    await this.options.admission?.admit(state.ctx, metadata, state.responseMetadata);
  }

  private sendHeaders(state: CallState, call: AnyCall): void {
    if (state.headersSent) return;
    state.headersSent = true;
    call.sendMetadata(state.responseMetadata);
  }

  /** The status for a failed call; the response metadata goes with it as trailers when no headers were sent. */
  private failure(state: CallState, error: unknown): StatusObject {
    const reason = state.ctx.signal.aborted && !(error instanceof VaultError) ? state.ctx.signal.reason : error;
    return toGrpcStatus(reason, state.headersSent ? new Metadata() : state.responseMetadata.clone());
  }

  private finish(state: CallState, code: status, error?: unknown): void {
    if (state.finished) return;
    state.finished = true;
    this.inFlight.delete(state);
    const durationSeconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9;
    const fields = { code: status[code], durationMs: Math.round(durationSeconds * 1e6) / 1e3 };
    if (code === status.INTERNAL || code === status.UNKNOWN) {
      state.ctx.logger.error({ ...fields, err: error }, 'call failed');
    } else if (code === status.OK) {
      state.ctx.logger.info(fields, 'call finished');
    } else {
      state.ctx.logger.info({ ...fields, reason: error instanceof Error ? error.message : undefined }, 'call failed');
    }
    this.options.onFinish?.(state.ctx, { code, durationSeconds, reason: error instanceof VaultError ? error.reason : undefined });
  }
}

/** The trace id of a W3C `traceparent` header, so that log lines correlate with the caller's trace even with tracing off. */
function traceIdOf(metadata: Metadata): string | undefined {
  const header = metadata.get('traceparent')[0];
  const match = typeof header === 'string' ? /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(header.trim()) : null;
  return match && match[1] !== '0'.repeat(32) ? match[1] : undefined;
}

function waitForDrain(call: ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => {
      call.removeListener('drain', onDrain);
      reject(signal.reason);
    };
    call.once('drain', onDrain);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
