import type { EventFilter } from '@telemetry-vault/client';
import { EXIT, UsageError } from '../output';
import { FILTER_OPTIONS, FILTER_USAGE, WINDOW_OPTIONS, WINDOW_USAGE, eventFilter, timeWindow, type FilterFlags, type WindowFlags } from './filter-flags';
import { eventHumanLine, eventJsonLine } from './event-line';
import type { FlagValues, RemoteCommand } from './remote-command';

/** Events printed without --all or --limit. */
export const DEFAULT_QUERY_LIMIT = 100;

interface QueryPlan {
  readonly filter: EventFilter;
  /** Most events to print; undefined with --all. */
  readonly limit: number | undefined;
  readonly oldestFirst: boolean;
  readonly json: boolean;
}

/**
 * `telemetry-vault query`: the matches over StreamEvents, newest first unless
 * `--oldest-first`, `--limit` of them (one more is asked for, to know whether
 * there are more) or every one with `--all`, each printed as it arrives.
 */
export const queryCommand: RemoteCommand<QueryPlan> = {
  usage: `Usage: telemetry-vault query [filters] [--from T] [--to T] [--limit N | --all] [--oldest-first] [--json]

Prints the matching events, newest first: the first ${DEFAULT_QUERY_LIMIT} by default, and a
note on stderr when more match.

${FILTER_USAGE}${WINDOW_USAGE}
Which and how:
  --limit N              print at most N events (default ${DEFAULT_QUERY_LIMIT})
  --all                  print every match, streamed (memory stays flat)
  --oldest-first         oldest first instead

Output:
  (default)              one line per event: time, type, service, payload
  --json                 one JSON object per line
`,
  options: { ...FILTER_OPTIONS, ...WINDOW_OPTIONS, limit: { type: 'string' }, all: { type: 'boolean' }, 'oldest-first': { type: 'boolean' } },

  plan(values: FlagValues, now: Date): QueryPlan {
    if (values.all === true && values.limit !== undefined) throw new UsageError('--limit and --all exclude each other: --all prints every match');
    return {
      filter: eventFilter(values as FilterFlags, timeWindow(values as WindowFlags, now)),
      limit: values.all === true ? undefined : values.limit === undefined ? DEFAULT_QUERY_LIMIT : positiveInteger(values.limit as string, '--limit'),
      oldestFirst: values['oldest-first'] === true,
      json: values.json === true,
    };
  },

  async run(plan, { client, out, io, colour, interrupt }): Promise<number> {
    const order = plan.oldestFirst ? 'oldest-first' : 'newest-first';
    let printed = 0;
    let more = false;
    for await (const event of interrupt.iterate(client.events(plan.filter, order, { maxEvents: plan.limit === undefined ? 0 : plan.limit + 1 }))) {
      if (printed === plan.limit) {
        more = true;
        break;
      }
      await out.write(plan.json ? eventJsonLine(event) : eventHumanLine(event, colour));
      printed++;
    }
    await out.flush();
    if (interrupt.interrupted) return EXIT.interrupted;
    if (more) io.stderr.write(`(${printed} events shown, ${order.replace('-', ' ')}; more match: raise --limit or use --all)\n`);
    return EXIT.ok;
  },
};

function positiveInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) throw new UsageError(`${flag} must be a positive whole number (got "${text}")`);
  return Number(text);
}
