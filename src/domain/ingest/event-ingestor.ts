import type { CallContext } from '../call-context';
import { IngestSession, type IngestSessionDependencies, type IngestSessionOptions } from './ingest-session';

/** Opens an IngestSession per call, over the shared sink, validator and rate limiter. */
export class EventIngestor {
  constructor(private readonly deps: IngestSessionDependencies) {}

  open(ctx: CallContext, options: IngestSessionOptions): IngestSession {
    return new IngestSession(ctx, this.deps, options);
  }
}
