import { Metadata, type handleClientStreamingCall, type handleServerStreamingCall, type handleUnaryCall, type ServerReadableStream, type ServerWritableStream } from '@grpc/grpc-js';
import type { AuthenticatedContext } from '../../../domain/call-context';
import { VaultError } from '../../../domain/vault-error';
import { NOTHING_HELD, type HeldBytes } from '../../../domain/query/stream-pages';
import { limitWriteAhead } from '../limit-write-ahead';
import type { MalformedMessage } from '../malformed-message';
import { toGrpcStatus } from '../to-grpc-status';
import type { SentMessages } from './budget-sent-messages';
import type { CallScope, CallScopes } from './call-scopes';

/** What a handler sees of its call beyond the context: the scope, to report the rate limit it last took. */
export type HandlerScope = Pick<CallScope, 'rateLimit'>;

interface Call {
  readonly metadata: Metadata;
  getDeadline(): Date | number;
  on(event: 'cancelled', listener: () => void): unknown;
}

/**
 * Runs the handlers of the vault's services on calls the interceptors have
 * opened and admitted (see observeCalls, admitCalls): builds each call's
 * immutable AuthenticatedContext (deadline, and a signal that aborts when the
 * client cancels, the deadline passes or the server fails the call), maps
 * what a handler throws to a status, and keeps the calls in flight so that
 * shutdown can fail them.
 */
export class CallPipeline {
  /** Calls whose handler is running, by the controller that aborts them. */
  private readonly inFlight = new Set<AbortController>();

  constructor(
    private readonly scopes: CallScopes,
    /** The response side of GRPC_RESPONSE_BUDGET: a call it ends has its handler stopped with the budget's reason. */
    private readonly sent?: SentMessages,
  ) {}

  /**
   * Fails every call in flight with `reason`: their signals abort, so their
   * handlers stop (rolling back what they have not committed) and the calls
   * end with `reason`'s status. Returns how many calls there were. Used when
   * the shutdown grace period is over, so that the clients are told to retry
   * (UNAVAILABLE) rather than see their calls reset.
   */
  abortInFlight(reason: VaultError): number {
    const calls = [...this.inFlight];
    for (const controller of calls) controller.abort(reason);
    return calls.length;
  }

  /** A unary handler: resolves with the response. */
  unary<Req, Res>(handler: (request: Req | MalformedMessage, ctx: AuthenticatedContext, scope: HandlerScope) => Promise<Res>): handleUnaryCall<Req | MalformedMessage, Res> {
    return (call, callback) => {
      void this.run(call, (ctx, scope) => handler(call.request, ctx, scope)).then(
        (response) => callback(null, response),
        (status) => callback(status),
      );
    };
  }

  /** A client-streaming handler: reads the stream, resolves with the response. */
  clientStream<Req, Res>(handler: (call: ServerReadableStream<Req | MalformedMessage, Res>, ctx: AuthenticatedContext, scope: HandlerScope) => Promise<Res>): handleClientStreamingCall<Req | MalformedMessage, Res> {
    return (call, callback) => {
      void this.run(call, (ctx, scope) => handler(call, ctx, scope)).then(
        (response) => callback(null, response),
        (status) => callback(status),
      );
    };
  }

  /**
   * A server-streaming handler: writes responses through `send`, which
   * resolves when the stream can take more (flow control); the call ends
   * with OK when the handler resolves. `sendHeaders` sends the response
   * headers before any message (at most once; the first message sends them
   * otherwise). `held` is the call's share of GRPC_RESPONSE_BUDGET, for what
   * the handler holds for its client beyond the messages sent.
   */
  serverStream<Req, Res>(
    handler: (request: Req | MalformedMessage, ctx: AuthenticatedContext, send: (response: Res) => Promise<void>, sendHeaders: () => void, held: HeldBytes) => Promise<void>,
  ): handleServerStreamingCall<Req | MalformedMessage, Res> {
    return (call) => {
      limitWriteAhead(call);
      let headersSent = false;
      const sendHeaders = (): void => {
        if (headersSent || call.cancelled) return;
        headersSent = true;
        call.sendMetadata(new Metadata());
      };
      const write = (ctx: AuthenticatedContext, response: Res): Promise<void> => {
        headersSent = true;
        return send(call, ctx.signal, response);
      };
      void this.run(call, (ctx, _scope, held) => handler(call.request, ctx, (response) => write(ctx, response), sendHeaders, held)).then(
        () => call.end(),
        (status) => call.emit('error', status),
      );
    };
  }

  /** Runs a handler in its context; rejects with the status to send when it fails. */
  private async run<T>(call: Call, handler: (ctx: AuthenticatedContext, scope: CallScope, held: HeldBytes) => Promise<T>): Promise<T> {
    const scope = this.scopes.of(call.metadata);
    const responses = this.sent?.claim(call.metadata);
    if (scope?.principal === undefined) {
      // Only the interceptors' wiring can get here: never serve an unadmitted call.
      throw toGrpcStatus(new Error(`a call to ${scope?.method ?? 'a vault method'} reached its handler without admission`));
    }
    const controller = new AbortController();
    const deadline = deadlineOf(call);
    let ended = false;
    call.on('cancelled', () => {
      // grpc-js also reports the stream's close after a call that ended normally: nothing to stop then.
      if (ended) return;
      controller.abort(
        deadline !== undefined && Date.now() >= deadline
          ? new VaultError('DEADLINE_EXCEEDED', 'the call ran past its deadline')
          : new VaultError('CANCELLED', 'the client cancelled the call'),
      );
    });
    const ctx: AuthenticatedContext = {
      requestId: scope.requestId,
      method: scope.method,
      peer: scope.peer,
      // The scope's logger is made on first use: most calls log only their end.
      get logger() {
        return scope.logger;
      },
      deadline,
      signal: controller.signal,
      principal: scope.principal,
      tenant: scope.principal.tenant,
    };
    scope.handling = true;
    scope.abortHandler = (reason) => controller.abort(reason);
    if (responses !== undefined) responses.onEvicted = (reason) => scope.abortHandler?.(reason);
    this.inFlight.add(controller);
    try {
      const result = await handler(ctx, scope, responses?.hold ?? NOTHING_HELD);
      // A call its client gave up on gets no status through the stream any more: record its end here.
      if (controller.signal.aborted) scope.end(toGrpcStatus(controller.signal.reason));
      return result;
    } catch (error) {
      // A handler stopped by its signal fails with the signal's reason (cancelled, deadline, shutdown).
      const reason = controller.signal.aborted && !(error instanceof VaultError) ? controller.signal.reason : error;
      scope.failure = reason;
      const status = toGrpcStatus(reason);
      scope.end(status);
      throw status;
    } finally {
      ended = true;
      scope.handling = false;
      scope.abortHandler = undefined;
      this.inFlight.delete(controller);
    }
  }
}

function deadlineOf(call: Call): number | undefined {
  const value = call.getDeadline();
  const ms = value instanceof Date ? value.getTime() : value;
  return Number.isFinite(ms) ? ms : undefined;
}

/** Writes one response message; resolves once the stream can take more, rejects when the call is stopped first. */
function send<Res>(call: ServerWritableStream<unknown, Res>, signal: AbortSignal, response: Res): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (call.write(response)) return Promise.resolve();
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
