/**
 * An event as received, in plain types (the transport passes the decoded
 * protobuf message through as is: its shape matches).
 */
export interface IncomingEvent {
  readonly eventId: string;
  readonly timestamp: { readonly seconds: number; readonly nanos: number } | undefined;
  readonly eventType: string;
  readonly serviceName: string;
  /** A google.protobuf.Struct, unwrapped to a plain object. */
  readonly payload?: { readonly [key: string]: unknown } | undefined;
  /**
   * A google.protobuf.Struct that the decoder wrote as UTF-8 JSON text
   * (the common case; `payload` is then unset): it is a payload, checked as
   * one, with the stored form's limits measured on the text.
   */
  readonly payloadStructJson?: Uint8Array | undefined;
  /**
   * Set with payloadStructJson by the decoder that wrote it: what a scan of
   * it would find (see MeasuredPayload), so that validation checks only the
   * limits. Absent: the text is scanned.
   */
  readonly payloadStructJsonMeasured?: MeasuredPayload | undefined;
  /**
   * The same JSON object as text: its UTF-8 bytes as they arrived in the
   * request (the gRPC path: never decoded to a string), or a string (OTLP's
   * mapping builds one).
   */
  readonly payloadJson?: string | Uint8Array | undefined;
  /**
   * Set only by a server-side writer that wrote payloadJson's bytes itself
   * (OTLP's logs-to-events): what a scan would find, so that validation
   * checks only the limits (see WrittenPayload).
   */
  readonly payloadJsonWritten?: WrittenPayload | undefined;
}

/**
 * What the writer of a payload vouches for: its bytes are well-formed UTF-8,
 * one JSON object by RFC 8259, without \u0000, surrogate escapes or numbers
 * with an exponent (jsonb takes it and stores numbers as written), so that
 * its stored form is at most twice its length; `depth` is at least its
 * deepest nesting of objects and arrays; `copyEscapes` is whether it holds a
 * byte that COPY escapes.
 */
export interface WrittenPayload {
  readonly depth: number;
  readonly copyEscapes: boolean;
}

/**
 * What the writer of a payload's JSON text measured while writing it,
 * exactly as the validator's scan of the text would find it: the text is
 * well-formed UTF-8, one JSON object by RFC 8259, without \u0000 or
 * surrogate escapes, its numbers within jsonb's range; `depth` is its
 * deepest nesting of objects and arrays (the top object is 1),
 * `storedBytes` the size of jsonb's text form as the scan counts it (each
 * key counted, repeated or not), and `copyEscapes` whether it holds a byte
 * that COPY escapes.
 */
export interface MeasuredPayload {
  readonly depth: number;
  readonly storedBytes: number;
  readonly copyEscapes: boolean;
}

/** An event that passed validation, ready to be written. */
export interface ValidEvent {
  readonly eventId: string;
  /** Microseconds since the epoch (PostgreSQL's precision; finer parts are dropped), as every instant in the domain. */
  readonly timestampUs: bigint;
  readonly eventType: string;
  readonly serviceName: string;
  /** A JSON object that PostgreSQL's jsonb accepts, as UTF-8 text. */
  readonly payloadJson: Uint8Array;
  /** Whether payloadJson holds a byte that COPY's text format escapes (backslash, tab, newline, carriage return). */
  readonly payloadCopyEscapes: boolean;
}

/** An event that failed validation: not stored, reported with its index in the call. */
export interface RejectedEvent {
  readonly index: number;
  readonly eventId: string;
  readonly reason: string;
}

/** What an ingest call answers. accepted + duplicates + rejected = the events the call carried. */
export interface IngestOutcome {
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  /** The first rejected events, at most the configured number. */
  readonly rejectedEvents: readonly RejectedEvent[];
}

/** Per-call facts a write needs. */
export interface WriteOptions {
  /** Aborted when the call is cancelled or past its deadline: an uncommitted batch is rolled back. */
  readonly signal: AbortSignal;
  /** The call's deadline (epoch milliseconds), bounding each statement. */
  readonly deadline: number | undefined;
}

/** How many events of one type and service a write newly stored. */
export interface StoredGroup {
  readonly eventType: string;
  readonly serviceName: string;
  readonly count: number;
}

/** What one committed batch did. */
export interface WriteResult {
  /** Events newly stored; the rest of the batch was already there. */
  readonly inserted: number;
  /** The newly stored events by type and service (their counts add up to `inserted`). */
  readonly stored: readonly StoredGroup[];
}

/** Where batches go (implemented in storage/). */
export interface EventSink {
  /**
   * Stores the events of one batch for the tenant, committing before it
   * resolves; the first write of a (tenant, event_id) wins. The events' ids
   * are unique within the batch. The sink may commit the batch together with
   * other calls' batches (group commit), but the result is the batch's own,
   * exactly as if it had been written alone; when the call is stopped first
   * the promise rejects with the signal's reason at once (the batch may
   * still be committed, unacknowledged, with its group).
   */
  write(tenantId: string, events: readonly ValidEvent[], options: WriteOptions): Promise<WriteResult>;
}
