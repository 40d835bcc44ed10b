import { status } from '@grpc/grpc-js';
import type { EventFilter } from '@telemetry-vault/client';
import { EXIT } from '../output';
import { FILTER_OPTIONS, FILTER_USAGE, eventFilter, type FilterFlags } from './filter-flags';
import { eventHumanLine, eventJsonLine } from './event-line';
import { parseDurationFlag } from './parse-time';
import { RemoteCommandError, type FlagValues, type RemoteCommand } from './remote-command';
import { RESUME_KEYS_MAX, resumedFollow } from './resumed-follow';

/**
 * A first follow that fails sooner than this, before any event, is not
 * reconnected: a wrong address or a vault that is down fails at once (exit 1)
 * rather than retrying forever. The SDK already retries it ~3 s.
 */
const FIRST_CONNECT_GRACE_MS = 5000;

interface TailPlan {
  readonly filter: EventFilter;
  readonly json: boolean;
}

/**
 * `telemetry-vault tail`: StreamEvents with follow (contract section 10),
 * oldest first, from `--since` ago (default: the moment tail starts), until
 * Ctrl+C, which exits 0. When the server goes away (it shuts down, a
 * rolling restart, a dropped connection), tail reconnects with backoff and
 * resumes without a gap or a repeat (resumed-follow.ts), saying so on stderr.
 */
export const tailCommand: RemoteCommand<TailPlan> = {
  usage: `Usage: telemetry-vault tail [filters] [--since D] [--json]

Prints matching events as they are stored, until Ctrl+C (exit 0): first those
of the last D (--since; default none: only events stored from now on), then
each new match once it commits. Events whose own timestamp is older than the
start (now, or now - D) do not match: widen --since for producers whose
clocks lag or that send late. When the server goes away (a restart, a lost
connection), tail reconnects and goes on without missing or repeating an
event (exactly while it has printed at most ${RESUME_KEYS_MAX.toLocaleString('en-US')} events; past that it
keeps only the later keys, and says from when a reconnection resumes).

${FILTER_USAGE}  --since D              also print the stored matches of the last D (30s, 15m, 2h, 7d)

Output:
  (default)              one line per event: time, type, service, payload
  --json                 one JSON object per line
`,
  options: { ...FILTER_OPTIONS, since: { type: 'string' } },

  plan(values: FlagValues, now: Date): TailPlan {
    const sinceMs = values.since === undefined ? 0 : parseDurationFlag(values.since as string, '--since');
    return { filter: eventFilter(values as FilterFlags, { start: new Date(now.getTime() - sinceMs) }), json: values.json === true };
  },

  async run(plan, { client, out, io, colour, interrupt }): Promise<number> {
    const events = resumedFollow((resumeFrom) => client.events(resumeFrom === undefined ? plan.filter : { ...plan.filter, start: resumeFrom }, 'oldest-first', { follow: true }), {
      reconnectFirst: (_error, openForMs) => openForMs >= FIRST_CONNECT_GRACE_MS,
      onForget: (resumeFrom, maxKeys) =>
        io.stderr.write(
          `tail: more than ${maxKeys} events printed; to bound its memory tail forgets the earlier half, and a reconnection now resumes from ${resumeFrom.toISOString()} (an event committed while disconnected with an older timestamp would be missed)\n`,
        ),
      onLoss: ({ error, delayMs }) => io.stderr.write(`tail: the stream was lost (${lossReason(error)}); reconnecting in ${(delayMs / 1000).toFixed(1)} s\n`),
    });
    for await (const event of interrupt.iterate(events)) {
      await out.write(plan.json ? eventJsonLine(event) : eventHumanLine(event, colour));
    }
    if (interrupt.interrupted) return EXIT.ok;
    throw new RemoteCommandError('the server ended the stream after the stored events: it is shutting down, or it does not follow (a vault older than live tail)');
  },
};

function lossReason(error: unknown): string {
  const { code, details } = error as { code: number; details?: string };
  return `${status[code] ?? `status ${code}`}: ${(details ?? '').split('\n')[0]!.trim()}`;
}
