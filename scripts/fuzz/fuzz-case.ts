/**
 * What a fuzz case is: request bytes for one RPC, how the call authenticates,
 * and what the contract allows as its outcome. Cases are plain data so that
 * the jest test (test/integration/fuzz.test.ts) and the hand-run mode
 * (scripts/fuzz/run-fuzz.ts) run the very same ones.
 */

export type FuzzRpc = 'IngestStream' | 'Ingest' | 'QueryEvents' | 'StreamEvents' | 'Aggregate';

export const FUZZ_RPCS: readonly FuzzRpc[] = ['IngestStream', 'Ingest', 'QueryEvents', 'StreamEvents', 'Aggregate'];

export const RPC_PATHS: Readonly<Record<FuzzRpc, string>> = {
  IngestStream: '/telemetry.v1.IngestService/IngestStream',
  Ingest: '/telemetry.v1.IngestService/Ingest',
  QueryEvents: '/telemetry.v1.QueryService/QueryEvents',
  StreamEvents: '/telemetry.v1.QueryService/StreamEvents',
  Aggregate: '/telemetry.v1.QueryService/Aggregate',
};

export const isIngestRpc = (rpc: FuzzRpc): boolean => rpc === 'Ingest' || rpc === 'IngestStream';

/**
 * How a call ended: a gRPC status name (`OK`, `INVALID_ARGUMENT`...), or
 * `RST_STREAM:<code>` when the HTTP/2 layer reset the stream without a gRPC
 * status (only raw HTTP/2 calls see those).
 */
export type Outcome = string;

/** The codes the contract never allows for client input: they mean a server bug. */
export const BUG_OUTCOMES: readonly Outcome[] = ['INTERNAL', 'UNKNOWN'];

/**
 * Which tenant a case calls as: one with high limits (the fuzzing), one with
 * the same limits for the 100 000-event messages (so that queries of the
 * fuzzing do not read them all), or one with the server's defaults.
 */
export type TenantRole = 'fuzz' | 'bulk' | 'defaults';

/** Metadata entries (a key may repeat); Buffer values for `-bin` keys. */
export type MetadataEntries = readonly (readonly [string, string | Buffer])[];

/** What an ingest call must have done, beyond the checks every ingest call gets. */
export interface IngestExpectation {
  readonly accepted?: number;
  readonly duplicates?: number;
  readonly rejected?: number;
  /** Event ids that must be stored after the call. */
  readonly stored?: readonly string[];
  /** Event ids that must not be stored (the call was refused). */
  readonly notStored?: readonly string[];
}

/** A finished call as the fuzz client saw it. */
export interface CallOutcome {
  readonly outcome: Outcome;
  readonly details: string;
  /** Response messages (one for unary calls that succeeded). */
  readonly responses: readonly Uint8Array[];
  /** Fields named by a google.rpc.BadRequest in grpc-status-details-bin. */
  readonly badRequestFields: readonly string[];
  /** Response headers and trailers (string values). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly durationMs: number;
}

export interface FuzzCase {
  /** Says what was sent, so that a failure reads as a reproduction recipe (with the seed). */
  readonly name: string;
  readonly kind: 'random' | 'mutation' | 'targeted';
  readonly rpc: FuzzRpc;
  /** The request messages as sent: one for unary and server-streaming RPCs, any number for IngestStream. */
  readonly messages: readonly Uint8Array[];
  readonly tenant?: TenantRole;
  /** The call's metadata, given the tenant's key; default `x-api-key: <key>`. */
  readonly metadata?: (key: string) => MetadataEntries;
  /** Send over plain HTTP/2 (node:http2) rather than grpc-js, for metadata grpc-js refuses to send. */
  readonly raw?: boolean;
  /** The outcomes the contract defines for this input. */
  readonly expect: readonly Outcome[];
  /** For INVALID_ARGUMENT: the field a BadRequest detail must name. */
  readonly badRequestField?: string;
  readonly ingest?: IngestExpectation;
  /** More checks on the outcome; returns what is wrong, if anything. */
  readonly check?: (call: CallOutcome) => string | undefined;
  readonly deadlineMs?: number;
}

/** The server's limits the cases aim at (from its configuration). */
export interface FuzzLimits {
  readonly maxMessageBytes: number;
  readonly maxPayloadBytes: number;
  readonly maxPayloadDepth: number;
  readonly maxFutureSkewMs: number;
  readonly payloadContainsMaxBytes: number;
  readonly payloadContainsMaxDepth: number;
  readonly filterMaxValues: number;
  readonly maxLimit: number;
  readonly maxPage: number;
  readonly defaultEventBurst: number;
}

/** What case generators need besides randomness. */
export interface CaseContext {
  /** Prefix of every event id a round makes, so that rounds and runs never collide. */
  readonly idPrefix: string;
  /** The clock the events' timestamps are based on (unix seconds). */
  readonly nowSeconds: number;
  readonly limits: FuzzLimits;
}
