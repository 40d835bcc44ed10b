import { constants as http2Constants, type ServerHttp2Stream } from 'node:http2';
import type { Metadata, Server } from '@grpc/grpc-js';
import type { VaultError } from '../../../domain/vault-error';
import type { Logger } from '../../../observability/create-logger';
import type { ResponseBudget, ResponseHold } from '../../response-budget';
import { StreamTags } from './stream-tags';

/** Where the 'stream' listener leaves a call's response number for the pipeline (only this code may set it). */
const RESPONSE_METADATA = 'x-telemetry-vault-response';

/** How often, at most, the calls the budget ended are logged. */
const EVICTION_LOG_INTERVAL_MS = 60_000;

/** One call's response side: its hold, and who to tell when the budget ends the call. */
export interface SentResponses {
  readonly hold: ResponseHold;
  /** Called when the budget ends the call (its stream is reset already): the pipeline stops the handler with `reason`. */
  onEvicted: ((reason: VaultError) => void) | undefined;
}

/**
 * Holds every gRPC response message to the ResponseBudget (see there) from
 * when grpc-js writes it to its HTTP/2 stream until HTTP/2 has sent it: a
 * listener on each bound HTTP/2 server counts each new stream's writes (the
 * write's callback runs once the data has gone out, which flow control holds
 * back for a client that does not read).
 *
 * A call the budget ends has its stream reset with ENHANCE_YOUR_CALM, which
 * gRPC clients report as RESOURCE_EXHAUSTED ("Bandwidth exhausted or memory
 * limit exceeded" in grpc-js and grpc-go): a status in trailers would queue
 * behind the very data the client does not read. Its handler, when one
 * runs, stops with the budget's reason (logged with the call), and the
 * server logs the resets at most once a minute.
 */
export class SentMessages {
  private readonly responses: StreamTags<SentResponses>;
  private evictions = 0;
  private loggedAt = -Infinity;

  constructor(
    budget: ResponseBudget,
    private readonly logger: Logger,
  ) {
    this.responses = new StreamTags(
      RESPONSE_METADATA,
      'SentMessages',
      (stream, headers) => {
        const path = headers[':path'];
        const responses: SentResponses = {
          hold: budget.open((reason) => {
            stream.close(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
            responses.onEvicted?.(reason);
            this.evicted(path, reason);
          }),
          onEvicted: undefined,
        };
        countWrites(stream, responses.hold);
        return responses;
      },
      (responses) => responses.hold.close(),
    );
  }

  /** Tracks the streams of every port the server has bound. Call it after every bind. */
  track(server: Server): void {
    this.responses.track(server);
  }

  /** The response side of the call whose request metadata this is, taken out of the metadata. */
  claim(metadata: Metadata): SentResponses | undefined {
    return this.responses.claim(metadata);
  }

  private evicted(path: string | undefined, reason: VaultError): void {
    this.evictions++;
    const now = Date.now();
    if (now - this.loggedAt < EVICTION_LOG_INTERVAL_MS) return;
    this.loggedAt = now;
    this.logger.warn({ method: path, reset: this.evictions, err: reason }, 'calls whose clients stopped reading were reset past GRPC_RESPONSE_BUDGET (count since start-up; this one named)');
  }
}

type WriteCallback = (error?: Error | null) => void;

/** Holds each chunk written to `stream` until its write's callback runs (the data has gone out, or the stream failed). */
function countWrites(stream: ServerHttp2Stream, hold: ResponseHold): void {
  const write = stream.write as (chunk: unknown, encoding?: unknown, callback?: WriteCallback) => boolean;
  stream.write = function countedWrite(this: ServerHttp2Stream, chunk: unknown, encodingOrCallback?: unknown, callback?: WriteCallback): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength;
    const done = typeof encodingOrCallback === 'function' ? (encodingOrCallback as WriteCallback) : callback;
    const counted: WriteCallback = (error) => {
      hold.give(bytes);
      done?.(error);
    };
    hold.take(bytes);
    return typeof encodingOrCallback === 'function' ? write.call(this, chunk, counted) : write.call(this, chunk, encodingOrCallback, counted);
  } as typeof stream.write;
}
