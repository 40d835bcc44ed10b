import { LiveTailHub } from '../domain/live-tail/live-tail-hub';
import { LiveTailService } from '../domain/live-tail/live-tail-service';
import type { ResponseSizing } from '../domain/query/fit-response';
import { registerLiveTailGauges } from '../observability/live-tail-gauges';
import { PgCommitNoticeSource } from '../storage/live-tail-listener';
import { PgLiveTailRepository } from '../storage/live-tail-repository';
import type { Platform } from './platform';

/**
 * Follow mode of StreamEvents (live tail): one LISTEN connection and hub per
 * instance, on the primary (see docs/architecture.md, "Live tail"). Nothing
 * connects until the first follow call. Closed at shutdown, after the servers.
 */
export function createLiveTail(platform: Platform, responses: ResponseSizing): LiveTailService {
  const { config, database, pool, primaryReads, logger, closers, metrics } = platform;
  const repository = new PgLiveTailRepository(pool, primaryReads, config.query.statementTimeoutMs, config.grpc.maxResponseBytes);
  const source = new PgCommitNoticeSource(database.url, config.database.pool.connectionTimeoutMs, logger.child({ component: 'live-tail' }));
  const hub = closers.add(
    new LiveTailHub(
      source,
      repository,
      {
        buffer: { maxEvents: config.follow.bufferMaxEvents, maxBytes: config.follow.bufferMaxBytes },
        buffersMaxBytes: config.follow.buffersMaxBytes,
        registrationTtlMs: config.follow.registrationTtlMs,
        statementTimeoutMs: config.query.statementTimeoutMs,
      },
      responses.eventBytes,
      logger,
    ),
    (opened) => opened.close(),
  );
  registerLiveTailGauges(metrics.registry, () => hub.state());
  return new LiveTailService(hub, repository, { ...config.query, slowConsumerTimeoutMs: config.follow.slowConsumerTimeoutMs }, responses);
}
