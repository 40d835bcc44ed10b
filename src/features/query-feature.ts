import { CursorCodec } from '../domain/query/cursor-codec';
import { QueryService } from '../domain/query/query-service';
import { createQueryMetrics } from '../observability/create-query-metrics';
import { EventQueryRepository } from '../storage/event-query-repository';
import { ReadFailover } from '../storage/read-failover';
import { CURSOR_SIGNING_KEY, VaultSecretRepository } from '../storage/vault-secret-repository';
import { createQueryHandlers, QUERY_METHOD_POLICIES, QUERY_SERVICE_NAME, queryServiceDefinition } from '../transport/grpc/query-handlers';
import { createRequestDecoders } from '../transport/grpc/wire/request-decoders';
import { largestEventResponseBytes } from '../config/load-config';
import { storedEventResponseBytes } from '../transport/grpc/wire/encode-query-responses';
import type { Feature } from './feature';
import { createLiveTail } from './live-tail';
import type { Platform } from './platform';

/**
 * telemetry.v1.QueryService: pages, streams and counts, read only from the
 * read pool (the replica's when DATABASE_READ_URL is set); StreamEvents with
 * follow is live tail, on the primary (createLiveTail).
 */
export async function createQueryFeature(platform: Platform): Promise<Feature> {
  const { config, pool, readPool, primaryReads, probes, logger, metrics, pipeline } = platform;
  // Cursors must verify on every instance: the key is configured, or the one the migrations stored in the (shared) primary.
  const cursorKey = config.query.cursorSecret !== undefined ? Buffer.from(config.query.cursorSecret, 'utf8') : await new VaultSecretRepository(pool).get(CURSOR_SIGNING_KEY);
  // No row larger than a response is ever fetched (see pageQuery).
  const maxResponseBytes = config.grpc.maxResponseBytes;
  // A replica that is down must not take queries down while the primary can serve them.
  // Without one, reads hold no more of the primary's pool than their share (ingest writes through the rest).
  const reads = readPool === pool ? primaryReads : new ReadFailover(readPool, primaryReads, probes.read, logger);
  // Behind a transaction-mode pooler no setting may stay on a session: every read sets its timeout with SET LOCAL.
  const sessionTimeoutMs = config.database.transactionPooling ? Number.POSITIVE_INFINITY : config.query.statementTimeoutMs;
  const reader = new EventQueryRepository(reads, sessionTimeoutMs, maxResponseBytes, (operation, seconds) => metrics.dbQuerySeconds.observe({ operation }, seconds));
  const responses = { maxBytes: maxResponseBytes, eventBytes: storedEventResponseBytes, largestEventBytes: largestEventResponseBytes(config.ingest.maxPayloadBytes) };
  const liveTail = createLiveTail(platform, responses);
  const queries = new QueryService(reader, new CursorCodec(cursorKey), config.query, responses, createQueryMetrics(metrics.registry).streamObserver, Date.now, platform.retention);
  return {
    services: [
      {
        definition: queryServiceDefinition(createRequestDecoders(config)),
        implementation: createQueryHandlers(pipeline, queries, liveTail),
        policies: QUERY_METHOD_POLICIES,
        health: { name: QUERY_SERVICE_NAME, database: 'read' },
      },
    ],
    // Follow calls never end by themselves: at shutdown they end at once with UNAVAILABLE, so that clients follow again elsewhere.
    drain: () => liveTail.drain(),
  };
}
