import type { AuthenticatedContext } from '../call-context';
import type { EventIngestor } from '../ingest/event-ingestor';
import type { RateLimitStatus } from '../rate-limit/rate-limiter';
import type { MappedRequest } from './map-otlp';
import type { OtlpSignal } from './otlp-model';

/** How many rejection reasons an error_message names. */
export const OTLP_REASONS_LISTED = 5;

/** What one record of each signal is called in messages. */
export const RECORD_NOUNS: Readonly<Record<OtlpSignal, string>> = { logs: 'log record', traces: 'span', metrics: 'data point' };

/** An export's answer (OTLP's partial_success), and what the vault did with the records. */
export interface OtlpExportOutcome {
  readonly records: number;
  readonly accepted: number;
  readonly duplicates: number;
  /** rejected_log_records / rejected_spans / rejected_data_points. */
  readonly rejected: number;
  /** Names the first reasons; empty when nothing was rejected. */
  readonly errorMessage: string;
}

/**
 * Runs an OTLP export through native ingest: the mapped events go through
 * one unary IngestSession (the same validator, limits, rate limits, writer
 * and exactly-once rule as IngestService/Ingest), and the records the
 * mapping or the validator refused become the partial success.
 */
export class OtlpReceiver {
  constructor(private readonly ingestor: EventIngestor) {}

  /**
   * What an authenticated request refused before its records were read (a
   * malformed body, one too large or not gzip) costs: its calls token, as a
   * malformed or oversized native unary call costs one (the ingest session's
   * abandon takes it). `onRateLimit` gets the events bucket's status.
   */
  async refused(ctx: AuthenticatedContext, reason: unknown, onRateLimit: (status: RateLimitStatus) => void): Promise<void> {
    const session = this.ingestor.open(ctx, 'unary');
    try {
      await session.abandon(reason);
    } catch (error) {
      // The request's own refusal is what its client must hear, as for a native call's untaken token.
      ctx.logger.warn({ err: error }, 'could not take the calls token of a refused call');
    } finally {
      if (session.rateLimit !== undefined) onRateLimit(session.rateLimit);
    }
  }

  /**
   * Stores the request's events; resolves once they are committed. Throws
   * what native ingest throws (throttled, burst, database down...).
   * `onRateLimit` gets the events bucket's status as the call last took it,
   * whether the call succeeds or fails.
   */
  async receive(ctx: AuthenticatedContext, signal: OtlpSignal, mapped: MappedRequest, onRateLimit: (status: RateLimitStatus) => void): Promise<OtlpExportOutcome> {
    const session = this.ingestor.open(ctx, 'unary');
    try {
      await session.accept(mapped.events);
      const outcome = await session.finish();
      const reasons = [
        ...mapped.unmapped,
        ...outcome.rejectedEvents.map((rejected) => ({ index: mapped.recordIndexes[rejected.index] ?? rejected.index, reason: rejected.reason })),
      ].sort((a, b) => a.index - b.index);
      const rejected = mapped.unmapped.length + outcome.rejected;
      return { records: mapped.records, accepted: outcome.accepted, duplicates: outcome.duplicates, rejected, errorMessage: errorMessageOf(signal, mapped.records, rejected, reasons) };
    } catch (error) {
      await session.abandon(error);
      throw error;
    } finally {
      if (session.rateLimit !== undefined) onRateLimit(session.rateLimit);
    }
  }
}

function errorMessageOf(signal: OtlpSignal, records: number, rejected: number, reasons: readonly { index: number; reason: string }[]): string {
  if (rejected === 0) return '';
  const noun = RECORD_NOUNS[signal];
  const listed = reasons.slice(0, OTLP_REASONS_LISTED).map(({ index, reason }) => `${noun} ${index}: ${reason}`);
  const more = rejected > listed.length ? `; and ${rejected - listed.length} more` : '';
  return `${rejected} of ${records} ${noun}s rejected (indexes count the request's ${noun}s from 0): ${listed.join('; ')}${more}`;
}
