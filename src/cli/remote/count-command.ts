import type { AggregateRow, EventFilter, GroupField } from '@telemetry-vault/client';
import { EXIT, formatTable, UsageError } from '../output';
import { FILTER_OPTIONS, FILTER_USAGE, WINDOW_OPTIONS, WINDOW_USAGE, eventFilter, timeWindow, type FilterFlags, type WindowFlags } from './filter-flags';
import { printable } from './event-line';
import { INTERRUPTED } from './interrupt';
import { parseDurationFlag } from './parse-time';
import type { FlagValues, RemoteCommand } from './remote-command';

interface CountPlan {
  readonly filter: EventFilter;
  readonly groupBy: GroupField[];
  readonly bucketMs: number | undefined;
  readonly json: boolean;
}

const GROUPS: Readonly<Record<string, GroupField>> = { type: 'event_type', service: 'service_name' };

/** `telemetry-vault count`: Aggregate, as a table or as JSON. */
export const countCommand: RemoteCommand<CountPlan> = {
  usage: `Usage: telemetry-vault count [filters] [--from T] [--to T] [--by type|service]... [--bucket D] [--json]

Counts the matching events (Aggregate), grouped and bucketed as asked.

${FILTER_USAGE}${WINDOW_USAGE}
Grouping:
  --by type|service      one row per event type or service (repeat for both)
  --bucket D             one row per time bucket of width D (>= 1s, aligned to the unix epoch: 1h, 1d)

Output:
  (default)              an aligned table: BUCKET, TYPE, SERVICE (as grouped), COUNT
  --json                 a JSON array of {bucketStart, eventType, serviceName, count}, as grouped
`,
  options: { ...FILTER_OPTIONS, ...WINDOW_OPTIONS, by: { type: 'string', multiple: true }, bucket: { type: 'string' } },

  plan(values: FlagValues, now: Date): CountPlan {
    const groupBy = ((values.by as string[] | undefined) ?? []).map((by) => {
      const field = GROUPS[by];
      if (field === undefined) throw new UsageError(`--by must be type or service (got "${by}")`);
      return field;
    });
    if (new Set(groupBy).size !== groupBy.length) throw new UsageError('--by names the same grouping twice');
    let bucketMs: number | undefined;
    if (values.bucket !== undefined) {
      bucketMs = parseDurationFlag(values.bucket as string, '--bucket');
      if (bucketMs < 1000) throw new UsageError(`--bucket must be at least 1s (got "${String(values.bucket)}")`);
    }
    return { filter: eventFilter(values as FilterFlags, timeWindow(values as WindowFlags, now)), groupBy, bucketMs, json: values.json === true };
  },

  async run(plan, { client, out, interrupt }): Promise<number> {
    const rows = await interrupt.race(client.aggregate(plan.filter, { groupBy: plan.groupBy, bucketMs: plan.bucketMs }));
    if (rows === INTERRUPTED) return EXIT.interrupted;
    const bucketed = plan.bucketMs !== undefined;
    const byType = plan.groupBy.includes('event_type');
    const byService = plan.groupBy.includes('service_name');
    if (plan.json) {
      const json = rows.map((row: AggregateRow) => ({
        ...(bucketed ? { bucketStart: row.bucketStart?.toISOString() ?? null } : {}),
        ...(byType ? { eventType: row.eventType } : {}),
        ...(byService ? { serviceName: row.serviceName } : {}),
        count: row.count,
      }));
      await out.write(`${JSON.stringify(json, null, 2)}\n`);
      return EXIT.ok;
    }
    const headers = [...(bucketed ? ['BUCKET'] : []), ...(byType ? ['TYPE'] : []), ...(byService ? ['SERVICE'] : []), 'COUNT'];
    const cells = rows.map((row) => [
      ...(bucketed ? [row.bucketStart?.toISOString() ?? '-'] : []),
      ...(byType ? [printable(row.eventType)] : []),
      ...(byService ? [printable(row.serviceName)] : []),
      String(row.count),
    ]);
    await out.write(formatTable(headers, cells, [headers.length - 1]));
    return EXIT.ok;
  },
};
