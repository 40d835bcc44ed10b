/**
 * `npm run bench -- --instances` (issue 17): ingest events/s of 1, 2 and 3
 * `telemetry-vault serve` processes against one database, as ratios to one
 * instance in the same run; and one instance with
 * DATABASE_TRANSACTION_POOLING (the staging table created in each
 * transaction, as behind PgBouncer in transaction mode) against today's
 * session staging table. Each instance gets its own load (16 streams of
 * 1000-event messages, payload_json) from the load generator, all at once;
 * the rate is the events of all of them over the slowest one's time.
 */
import type pg from 'pg';
import type { LoadGenerator } from './load-generator-process';
import { VaultProcess } from './vault-process';

export interface InstancesRow {
  readonly label: string;
  readonly instances: number;
  readonly transactionPooling: boolean;
  readonly events: number;
  readonly elapsedMs: number;
  readonly eventsPerSecond: number;
  /** eventsPerSecond against the first row (1 instance, session staging) of the same round; in the summary, the median over rounds. */
  readonly ratio: number;
  /** In the summary: the rate of each round. */
  readonly roundRates?: readonly number[];
  /** User + system CPU seconds of all instances per million events. */
  readonly serverCpuSecondsPerMillion: number;
}

export interface InstancesParams {
  readonly loadGenerator: LoadGenerator;
  readonly db: pg.Client;
  readonly keys: readonly string[];
  readonly env: Record<string, string>;
  readonly eventsPerInstance: number;
  readonly rounds: number;
  readonly log: (line: string) => void;
}

const STREAMS = 16;
const BATCH = 1000;

const ROWS = [
  { label: '1 instance (session staging table)', instances: 1, transactionPooling: false },
  { label: '1 instance, DATABASE_TRANSACTION_POOLING (staging per transaction)', instances: 1, transactionPooling: true },
  { label: '2 instances', instances: 2, transactionPooling: false },
  { label: '3 instances', instances: 3, transactionPooling: false },
] as const;

export async function instancesPhase({ loadGenerator, db, keys, env, eventsPerInstance, rounds, log }: InstancesParams): Promise<InstancesRow[]> {
  const perRound: InstancesRow[][] = [];
  for (let round = 0; round < rounds; round++) {
    const rows: InstancesRow[] = [];
    for (const row of ROWS) {
      await db.query('TRUNCATE events');
      await db.query('CHECKPOINT').catch(() => undefined);
      const vaults = Array.from(
        { length: row.instances },
        () => new VaultProcess({ ...env, ...(row.transactionPooling ? { DATABASE_TRANSACTION_POOLING: 'true', DATABASE_DIRECT_URL: env.DATABASE_URL! } : {}) }),
      );
      try {
        const targets = (await Promise.all(vaults.map((vault) => vault.serving))).map((serving) => `127.0.0.1:${serving.grpcPort}`);
        const cpuBefore = vaults.map((vault) => vault.cpuSeconds());
        const outcomes = await Promise.all(
          targets.map((target, index) =>
            loadGenerator.run('vaultIngest', { target, keys, run: `inst-r${round}-${row.instances}-${row.transactionPooling}-${index}`, streams: STREAMS, batch: BATCH, payload: 'json', count: eventsPerInstance, eventsPerCall: 20_000 }),
          ),
        );
        const cpuSeconds = vaults.reduce((sum, vault, index) => sum + vault.cpuSeconds() - cpuBefore[index]!, 0);
        const events = outcomes.reduce((sum, outcome) => sum + outcome.events, 0);
        const stored = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);
        const failed = outcomes.flatMap((outcome) => Object.keys(outcome.codes).filter((code) => code !== 'OK'));
        if (stored !== events || failed.length > 0) throw new Error(`${row.label}: ${stored} rows stored for ${events} events sent (codes ${failed.join(', ')})`);
        const elapsedMs = Math.max(...outcomes.map((outcome) => outcome.elapsedMs));
        const eventsPerSecond = events / (elapsedMs / 1000);
        rows.push({ ...row, events, elapsedMs, eventsPerSecond, ratio: eventsPerSecond / (rows[0]?.eventsPerSecond ?? eventsPerSecond), serverCpuSecondsPerMillion: (cpuSeconds / events) * 1e6 });
        log(`round ${round + 1}/${rounds} ${row.label}: ${Math.round(eventsPerSecond)} events/s`);
      } finally {
        await Promise.all(vaults.map((vault) => vault.stop()));
      }
    }
    perRound.push(rows);
  }
  // Each row's median rate, and its median ratio to the first row of the same round (ratios within a round are what compare).
  return ROWS.map((_, index) => {
    const rounds = perRound.map((rows) => rows[index]!);
    const middle = <T>(values: T[], by: (value: T) => number): T => [...values].sort((a, b) => by(a) - by(b))[Math.floor(values.length / 2)]!;
    const byRate = middle(rounds, (row) => row.eventsPerSecond);
    return { ...byRate, ratio: middle(rounds, (row) => row.ratio).ratio, roundRates: rounds.map((row) => Math.round(row.eventsPerSecond)) };
  });
}

/** The phase's table: rate, ratio to one instance, server CPU per million events. */
export function formatInstances(rows: readonly InstancesRow[]): string {
  const lines = ['', 'Ingest against one database, by number of instances (16 streams of 1000-event messages per instance, all at once)', '', '| setup | events | events/s (median) | each round | vs 1 instance (median of the rounds\' ratios) | server CPU s / M events |', '|---|---:|---:|---|---:|---:|'];
  for (const row of rows) lines.push(`| ${row.label} | ${row.events} | ${Math.round(row.eventsPerSecond)} | ${(row.roundRates ?? []).join(', ')} | ${row.ratio.toFixed(2)}x | ${row.serverCpuSecondsPerMillion.toFixed(1)} |`);
  return `${lines.join('\n')}\n`;
}
