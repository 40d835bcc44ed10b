import type { AuthenticatedContext } from '../call-context';
import { IngestSession, type IngestMode, type IngestSessionDependencies } from './ingest-session';

/** Opens an IngestSession per call, over the shared sink, validator and rate limiter. */
export class EventIngestor {
  constructor(private readonly deps: IngestSessionDependencies) {}

  open(ctx: AuthenticatedContext, mode: IngestMode): IngestSession {
    return new IngestSession(ctx, this.deps, mode);
  }
}
