/**
 * The two ingest baselines that talk to PostgreSQL directly (no gRPC), with
 * the bench's event shape and the server's own table:
 *
 *   ceiling: COPY text encoded before the clock starts, into the server's
 *            TEMP staging table, then the server's own merge (the exact
 *            statements of src/storage/event-writer.ts), one transaction per
 *            batch, on N connections in parallel: what the database itself
 *            takes on this machine;
 *   naive:   what the system design describes: batches of 100 events as one
 *            multi-row INSERT ... ON CONFLICT DO NOTHING each (autocommit),
 *            on N connections in parallel.
 *
 * Also loads the query data set (the ceiling's path, untimed).
 */
import pg from 'pg';
import { COPY_INTO_STAGING, executeMerge, MERGE, WRITER_SESSION_SETUP } from '../../src/storage/event-writer';
import { LIVE_TAIL_NOTIFY_CTE, LIVE_TAIL_WRITER_LOCK } from '../../src/storage/live-tail-notify';
import { runOneRoundTripCopy } from '../../src/storage/one-round-trip-copy';
import { benchEvent, toCopyRow, type BenchEvent } from './event-shape';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, statFields } from './proc-stat';

/** What a baseline run did: events sent, rows the database stored, wall time. */
export interface BaselineResult {
  readonly events: number;
  readonly stored: number;
  readonly elapsedMs: number;
  /** CPU time (user + system) of the connections' PostgreSQL backends, read from /proc; undefined when the database runs elsewhere. */
  readonly databaseCpuSeconds?: number;
}

/**
 * The server's merge as if live tail did not exist: the notice CTE replaced
 * by one constant row (the merge's result still cross-joins it). With the
 * BEGIN lock left out too, this is ingest's database work with live tail
 * switched off, for the follow bench's comparison with 0 followers.
 */
const MERGE_WITHOUT_LIVE_TAIL = MERGE.replace(LIVE_TAIL_NOTIFY_CTE, 'live_tail AS (SELECT 0::bigint AS notices)');
if (MERGE_WITHOUT_LIVE_TAIL === MERGE) throw new Error('database-baselines: the merge no longer holds LIVE_TAIL_NOTIFY_CTE; update MERGE_WITHOUT_LIVE_TAIL');

/** A ceiling connection's session, as the server's writer sets up its own: the staging table and the prepared merge, and MERGE_WITHOUT_LIVE_TAIL prepared too. */
const MERGE_WITHOUT_LIVE_TAIL_STATEMENT = 'telemetry_vault_merge_without_live_tail';
const CEILING_SESSION_SETUP = `${WRITER_SESSION_SETUP}; PREPARE ${MERGE_WITHOUT_LIVE_TAIL_STATEMENT}(uuid[]) AS ${MERGE_WITHOUT_LIVE_TAIL}`;

/** CPU seconds (user + system) the processes have used, or undefined when one is not on this machine. */
export function processCpuSeconds(pids: readonly number[]): number | undefined {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields === undefined) return undefined;
    ticks += cpuTicks(fields);
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

interface Batch {
  readonly tenantId: string;
  readonly events: BenchEvent[];
}

interface DealOptions {
  readonly run: string;
  readonly count: number;
  readonly batchSize: number;
  readonly tenantIds: readonly string[];
  readonly connections: number;
  readonly firstIndex?: number;
}

/**
 * Splits `count` events of `run` into batches of `batchSize`, each batch for
 * one tenant (round robin), dealt out to `connections` lanes.
 */
function dealBatches({ run, count, batchSize, tenantIds, connections, firstIndex = 0 }: DealOptions): Batch[][] {
  const lanes: Batch[][] = Array.from({ length: connections }, () => []);
  for (let start = 0, batch = 0; start < count; start += batchSize, batch++) {
    const events: BenchEvent[] = [];
    for (let i = start; i < Math.min(count, start + batchSize); i++) events.push(benchEvent(run, firstIndex + i));
    lanes[batch % connections]!.push({ tenantId: tenantIds[batch % tenantIds.length]!, events });
  }
  return lanes;
}

/** `count` bench connections (application_name telemetry-vault-bench), each running `setup` first when given. */
export async function connectAll(url: string, count: number, setup?: string): Promise<pg.Client[]> {
  const clients: pg.Client[] = [];
  for (let i = 0; i < count; i++) {
    const client = new pg.Client({ connectionString: url, application_name: 'telemetry-vault-bench' });
    await client.connect();
    if (setup !== undefined) await client.query(setup);
    clients.push(client);
  }
  return clients;
}

/** Runs each lane on its own connection, all at once; resolves with the wall time in ms. */
async function timeLanes<T>(clients: pg.Client[], lanes: T[], runLane: (client: pg.Client, lane: T) => Promise<void>): Promise<number> {
  const startedAt = performance.now();
  await Promise.all(lanes.map((lane, i) => runLane(clients[i]!, lane)));
  return performance.now() - startedAt;
}

/** One batch the server's way: BEGIN and its lock, COPY into staging, merge and COMMIT in one round trip, as the writer sends it (one-round-trip-copy.ts); without live tail's lock and notice CTE when `liveTail` is false. Resolves with how many rows the merge stored. */
async function copyAndMerge(client: pg.Client, tenantId: string, text: Buffer, liveTail = true): Promise<number> {
  const merged = await runOneRoundTripCopy(client, {
    before: liveTail ? ['BEGIN', LIVE_TAIL_WRITER_LOCK] : ['BEGIN'],
    copy: COPY_INTO_STAGING,
    after: [liveTail ? executeMerge([tenantId]) : executeMerge([tenantId], MERGE_WITHOUT_LIVE_TAIL_STATEMENT), 'COMMIT'],
    chunks: [text],
  });
  return merged.reduce((sum, row) => sum + Number(row.stored), 0);
}

export interface CeilingParams {
  readonly url: string;
  readonly run: string;
  readonly count: number;
  readonly batchSize: number;
  readonly tenantIds: readonly string[];
  readonly connections: number;
  /** false: the server's statements without live tail (MERGE_WITHOUT_LIVE_TAIL, no lock); default true. */
  readonly liveTail?: boolean;
}

/** The PostgreSQL ceiling: pre-encoded COPY + the server's merge. */
export async function runCeiling({ url, run, count, batchSize, tenantIds, connections, liveTail = true }: CeilingParams): Promise<BaselineResult> {
  const lanes = dealBatches({ run, count, batchSize, tenantIds, connections }).map((lane) =>
    lane.map((batch) => ({ tenantId: batch.tenantId, text: Buffer.from(batch.events.map(toCopyRow).join('')) })),
  );
  const clients = await connectAll(url, connections);
  let stored = 0;
  try {
    for (const client of clients) await client.query(CEILING_SESSION_SETUP);
    const pids = await Promise.all(clients.map(async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
    const cpuBefore = processCpuSeconds(pids);
    const elapsedMs = await timeLanes(clients, lanes, async (client, lane) => {
      for (const batch of lane) stored += await copyAndMerge(client, batch.tenantId, batch.text, liveTail);
    });
    const cpuAfter = processCpuSeconds(pids);
    return { events: count, stored, elapsedMs, databaseCpuSeconds: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

const NAIVE_COLUMNS = 6;

export interface NaiveParams {
  readonly url: string;
  readonly run: string;
  readonly count: number;
  readonly rowsPerStatement: number;
  readonly tenantIds: readonly string[];
  readonly connections: number;
}

/** The naive baseline: multi-row INSERT ... ON CONFLICT DO NOTHING, `rowsPerStatement` rows each. */
export async function runNaive({ url, run, count, rowsPerStatement, tenantIds, connections }: NaiveParams): Promise<BaselineResult> {
  const statementFor = new Map<number, string>();
  const textFor = (rows: number): string => {
    let text = statementFor.get(rows);
    if (text === undefined) {
      const tuples = Array.from({ length: rows }, (_, r) => `(${Array.from({ length: NAIVE_COLUMNS }, (_, c) => `$${r * NAIVE_COLUMNS + c + 1}`).join(', ')})`);
      text = `INSERT INTO events (tenant_id, event_id, "timestamp", event_type, service_name, payload) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`;
      statementFor.set(rows, text);
    }
    return text;
  };
  const lanes = dealBatches({ run, count, batchSize: rowsPerStatement, tenantIds, connections }).map((lane) =>
    lane.map((batch) => ({
      text: textFor(batch.events.length),
      values: batch.events.flatMap((event) => [batch.tenantId, event.eventId, new Date(event.timestampMicros / 1000).toISOString(), event.eventType, event.serviceName, event.payloadJson]),
    })),
  );
  const clients = await connectAll(url, connections);
  let stored = 0;
  try {
    const elapsedMs = await timeLanes(clients, lanes, async (client, lane) => {
      for (const statement of lane) stored += (await client.query(statement.text, statement.values)).rowCount ?? 0;
    });
    return { events: count, stored, elapsedMs };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

export interface LoadEventsParams {
  readonly url: string;
  readonly run: string;
  readonly count: number;
  readonly tenantId: string;
  readonly connections: number;
  readonly firstIndex?: number;
  readonly slice?: number;
}

/**
 * Loads `count` events of `run` for one tenant, in slices so that memory stays
 * small, through the ceiling's path; `firstIndex` continues a run's numbering.
 */
export async function loadEvents({ url, run, count, tenantId, connections, firstIndex = 0, slice = 100_000 }: LoadEventsParams): Promise<void> {
  for (let done = 0; done < count; done += slice) {
    const size = Math.min(slice, count - done);
    const lanes = dealBatches({ run, count: size, batchSize: 5000, tenantIds: [tenantId], connections, firstIndex: firstIndex + done });
    const clients = await connectAll(url, connections);
    try {
      for (const client of clients) await client.query(CEILING_SESSION_SETUP);
      await timeLanes(clients, lanes, async (client, lane) => {
        for (const batch of lane) await copyAndMerge(client, batch.tenantId, Buffer.from(batch.events.map(toCopyRow).join('')));
      });
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  }
}
