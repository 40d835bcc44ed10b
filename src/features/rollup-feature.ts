import { RollupCompactor } from '../domain/rollups/rollup-compactor';
import { EventRollupRepository } from '../storage/event-rollup-repository';
import type { Feature } from './feature';
import type { Platform } from './platform';

/**
 * The per-minute rollups' compaction (docs/architecture.md, "Rollups"): a
 * background job on the primary, on the platform's background pool, with no
 * service of its own. The ingest merge writes the deltas and QueryService's
 * Aggregate reads them. Its stop is registered with the platform's closers
 * as soon as it starts (not with the features' closers, which main.ts
 * registers only once the servers listen): so it stops before the pool ends
 * both at shutdown and when start-up fails after this point, and no round
 * runs against an ended pool.
 */
export function createRollupFeature(platform: Platform): Feature {
  const { config, logger, backgroundPool } = platform;
  const compactor = new RollupCompactor(
    new EventRollupRepository(backgroundPool),
    { intervalMs: config.rollups.compactionIntervalMs, batchRows: config.rollups.compactionBatchRows },
    {
      compacted: (moved) => logger.debug({ moved }, moved === undefined ? 'rollup compaction skipped: another instance is compacting' : 'rollup deltas compacted'),
      failed: (error) => logger.warn({ err: error }, 'rollup compaction failed; the next round retries'),
    },
  );
  platform.closers.add(compactor, (started) => started.stop());
  compactor.start();
  return { services: [] };
}
