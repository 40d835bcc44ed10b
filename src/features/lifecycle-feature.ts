import type { Feature } from './feature';
import type { Platform } from './platform';
import { ensureEventPartitions, listEventPartitions } from '../storage/event-partitions';
import { runRetentionRound } from '../storage/retention-work';
import { TenantRepository } from '../storage/tenant-repository';

/** How long start-up waits for another instance that is creating partitions. */
const STARTUP_LOCK_TIMEOUT_MS = 30_000;
/** How long a scheduled round waits for the partition lock or a table lock before leaving it to the next round. */
const ROUND_LOCK_TIMEOUT_MS = 2000;

/**
 * The data lifecycle (issue 16, contract section 11), run by every instance
 * every DATA_LIFECYCLE_INTERVAL, each step under an advisory lock so that
 * instances never collide: partitions of events ahead of need (before the
 * servers start too, so that no ingest ever lacks one), then retention
 * (whole partitions past every tenant's retention dropped, shorter
 * retentions deleted in batches), and the lifecycle metrics, all on the
 * platform's background pool. A failed round is logged and the next one
 * retries. Its timer is stopped through the platform's closers, registered
 * as soon as it is set (see rollup-feature.ts): before the pool ends, even
 * when start-up fails later.
 */
export async function createLifecycleFeature(platform: Platform): Promise<Feature> {
  const { config, logger, backgroundPool: pool, metrics, retention } = platform;
  const settings = config.lifecycle;
  const log = logger.child({ component: 'data-lifecycle' });
  const tenants = new TenantRepository(pool);
  // Partitions reach past the future skew limit by EVENTS_PARTITIONS_AHEAD intervals and by two rounds more: the
  // next round may fail (the database away, the lock taken past its timeout) and the one after retries, without any
  // ingest meeting a time that has no partition in between, however DATA_LIFECYCLE_INTERVAL compares with
  // EVENTS_PARTITION_INTERVAL (the merge has no partition to fall back on: events_before only holds the past).
  const horizonMs = (): number => Date.now() + config.ingest.maxFutureSkewMs + settings.partitionsAhead * settings.partitionIntervalMs + 2 * settings.intervalMs;

  const ensurePartitions = async (lockTimeoutMs: number): Promise<void> => {
    const created = await ensureEventPartitions(pool, { intervalMs: settings.partitionIntervalMs, horizonMs: horizonMs(), lockTimeoutMs });
    if (created.length > 0) log.info({ partitions: created }, 'events partitions created');
    metrics.lifecycle.partitionsCreated.inc({ by: 'lifecycle' }, created.length);
    metrics.lifecycle.eventPartitions.set((await listEventPartitions(pool)).length);
  };

  const enforceRetention = async (): Promise<void> => {
    const now = Date.now();
    const all = await tenants.list();
    const longestMs = retention.longestMs(all);
    const round = await runRetentionRound(
      pool,
      all.map((tenant) => ({ tenantId: tenant.id, cutoffUs: retention.cutoffUs(tenant, now) })),
      longestMs === undefined ? undefined : now - longestMs,
      { batchRows: settings.deleteBatchRows, pauseMs: settings.deletePauseMs, budgetMs: settings.intervalMs / 2, statementTimeoutMs: config.ingest.statementTimeoutMs },
    );
    if (round === undefined) return;
    metrics.lifecycle.expiredRows.inc({ how: 'dropped' }, round.droppedRows);
    metrics.lifecycle.expiredRows.inc({ how: 'deleted' }, round.deletedRows);
    metrics.lifecycle.oldestEventMs = round.oldestEventMs;
    metrics.lifecycle.overdueSeconds.set(round.overdueMs / 1000);
    metrics.lifecycle.lastRunSeconds.set(Date.now() / 1000);
    if (round.droppedPartitions.length > 0 || round.deletedRows > 0) {
      log.info({ dropped: round.droppedPartitions, droppedRows: round.droppedRows, deletedRows: round.deletedRows, unfinished: round.unfinished }, 'retention enforced');
    }
  };

  await ensurePartitions(STARTUP_LOCK_TIMEOUT_MS);
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= (async () => {
      for (const [step, work] of [
        ['partitions', () => ensurePartitions(ROUND_LOCK_TIMEOUT_MS)],
        ['retention', enforceRetention],
      ] as const) {
        try {
          await work();
        } catch (error) {
          log.warn({ err: error, step }, 'data lifecycle round failed; the next one retries');
        }
      }
    })().finally(() => {
      running = undefined;
    });
  }, settings.intervalMs);
  timer.unref();
  platform.closers.add(timer, async (set) => {
    clearInterval(set);
    await running;
  });
  return { services: [] };
}
