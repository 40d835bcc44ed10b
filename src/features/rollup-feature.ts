import { RollupCompactor } from '../domain/rollups/rollup-compactor';
import { EventRollupRepository } from '../storage/event-rollup-repository';
import type { Feature } from './feature';
import type { Platform } from './platform';

/**
 * The per-minute rollups' compaction (docs/architecture.md, "Rollups"): a
 * background job on the primary, no service of its own. The ingest merge
 * writes the deltas and QueryService's Aggregate reads them.
 */
export function createRollupFeature(platform: Platform): Feature {
  const { config, logger, pool } = platform;
  const compactor = new RollupCompactor(
    new EventRollupRepository(pool),
    { intervalMs: config.rollups.compactionIntervalMs, batchRows: config.rollups.compactionBatchRows },
    {
      compacted: (moved) => logger.debug({ moved }, moved === undefined ? 'rollup compaction skipped: another instance is compacting' : 'rollup deltas compacted'),
      failed: (error) => logger.warn({ err: error }, 'rollup compaction failed; the next round retries'),
    },
  );
  compactor.start();
  return { services: [], close: () => compactor.stop() };
}
