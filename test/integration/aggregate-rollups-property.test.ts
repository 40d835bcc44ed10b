import pg from 'pg';
import type { AggregateGrouping, AggregateSelection } from '../../src/domain/query/event-reader';
import { aggregateQuery } from '../../src/storage/event-query-sql';
import { EventRollupRepository } from '../../src/storage/event-rollup-repository';
import { rollupAggregateQuery, rollupsCanAnswer } from '../../src/storage/event-rollups-sql';
import { CREATE_STAGING, MERGE, mergeArguments } from '../../src/storage/event-writer';
import { microsToSqlTimestamp } from '../../src/storage/sql-timestamp';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { mulberry32 } from '../support/random-json';

/**
 * The property of the rollups: for any data (several tenants, types and
 * services, duplicates within and across groups, timestamps over days, on and
 * off minute boundaries, a few in year 1) and any Aggregate the rollups may
 * answer (aligned to whole minutes, any grouping, filters, retention cutoff
 * on or off a minute, row bound), the rollup path's result is the scan's,
 * row for row. The data goes in through the server's own MERGE (so the
 * rollups are the writer's), with compactions in between, so that both the
 * compacted rows and the deltas are read. The two statements run as they
 * are, one round trip each (EventQueryRepository only adds a transaction
 * and the order of the rows, the same for both), so that thousands of
 * cases take seconds.
 */

const MINUTE_US = 60_000_000n;
const DAY_US = 86_400_000_000n;
/** 2024-01-01T00:00:00Z. */
const BASE_US = 1_704_067_200_000_000n;
/** 0001-01-01T00:00:00Z: buckets that would start before it start there (see aggregateQuery). */
const FIRST_US = -62_135_596_800_000_000n;
const TYPES = ['log', 'metric', 'trace', 'Zeta', 'é-type'];
const SERVICES = ['api', 'checkout', 'search', 'ß-svc'];
const BUCKETS_US = [undefined, MINUTE_US, 2n * MINUTE_US, 7n * MINUTE_US, 60n * MINUTE_US, 90n * MINUTE_US, DAY_US, 7n * DAY_US, 3650n * DAY_US];
const CASES = Number(process.env.ROLLUP_PROPERTY_CASES ?? 2000);
const SEED = Number(process.env.ROLLUP_PROPERTY_SEED ?? 20_261_205);


interface Row {
  readonly member: number;
  readonly eventId: string;
  readonly timestampUs: bigint;
  readonly eventType: string;
  readonly serviceName: string;
}

describe('Aggregate from the rollups, against the scan (property)', () => {
  let db: TestDatabase;
  /** Sessions in a time zone with a 45-minute offset: minutes and buckets must not depend on it. */
  let chatham: pg.Pool;
  const tenants: string[] = [];
  const next = mulberry32(SEED);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
  const microsIn = (spanUs: bigint): bigint => BigInt(Math.floor(next() * Number(spanUs)));

  beforeAll(async () => {
    db = await createTestDatabase();
    chatham = new pg.Pool({ connectionString: db.url, max: 8, options: '-c TimeZone=Pacific/Chatham' });
    for (let i = 0; i < 3; i++) tenants.push((await db.pool.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ($1) RETURNING id::text AS id`, [`tenant-${i}`])).rows[0]!.id);

    const compactor = new EventRollupRepository(db.pool);
    const merger = await chatham.connect();
    try {
      await merger.query(CREATE_STAGING);
      const written: string[][] = tenants.map(() => []);
      for (let group = 0; group < 60; group++) {
        const members = Array.from({ length: 1 + Math.floor(next() * 3) }, () => Math.floor(next() * tenants.length));
        const rows: Row[] = [];
        members.forEach((tenant, index) => {
          for (let i = 0; i < 20 + Math.floor(next() * 80); i++) {
            const earlier = written[tenant]!;
            // Duplicates: an id stored before (first write wins), or one repeated within the group.
            const eventId = earlier.length > 0 && next() < 0.15 ? pick(earlier) : `${group}-${index}-${i}-${Math.floor(next() * 1e6)}`;
            const shape = next();
            const minute = BASE_US + microsIn(4n * DAY_US) / MINUTE_US * MINUTE_US;
            const timestampUs = shape < 0.01 ? FIRST_US + microsIn(10n * DAY_US) : shape < 0.1 ? minute : shape < 0.15 ? minute - 1n : minute + microsIn(MINUTE_US);
            rows.push({ member: index + 1, eventId, timestampUs, eventType: pick(TYPES), serviceName: pick(SERVICES) });
            earlier.push(eventId);
          }
          if (rows.length > 0 && next() < 0.3) rows.push({ ...rows[rows.length - 1]!, eventType: pick(TYPES) });
        });
        await merger.query('BEGIN');
        await merger.query(
          `INSERT INTO ingest_staging (member, event_id, ts, event_type, service_name, payload)
           SELECT member, id, ts, type, service, '{}'::jsonb FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) AS r(member, id, ts, type, service)`,
          [rows.map((row) => row.member), rows.map((row) => row.eventId), rows.map((row) => microsToSqlTimestamp(row.timestampUs)), rows.map((row) => row.eventType), rows.map((row) => row.serviceName)],
        );
        await merger.query(MERGE, mergeArguments(members.map((tenant) => tenants[tenant]!)));
        await merger.query('COMMIT');
        // Small batches, now and then: part of the counts compacted, part still deltas.
        if (group % 7 === 3) await compactor.compact(40, 5);
      }
    } finally {
      merger.release();
    }
    const { rows } = await db.pool.query<{ compacted: number; deltas: number }>('SELECT (SELECT count(*) FROM event_rollups)::int AS compacted, (SELECT count(*) FROM event_rollup_deltas)::int AS deltas');
    expect(rows[0]!.compacted).toBeGreaterThan(0);
    expect(rows[0]!.deltas).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await chatham?.end();
    await db?.drop();
  });

  function randomRequest(): { selection: AggregateSelection; grouping: AggregateGrouping; limit: number } {
    const minuteIn = (): bigint => BASE_US - DAY_US + (microsIn(6n * DAY_US) / MINUTE_US) * MINUTE_US;
    let startUs = next() < 0.4 ? undefined : minuteIn();
    let endUs = next() < 0.4 ? undefined : minuteIn();
    if (startUs !== undefined && endUs !== undefined && endUs <= startUs) [startUs, endUs] = [endUs, startUs + MINUTE_US];
    const cutoff = next();
    const notBeforeUs = cutoff < 0.5 ? undefined : cutoff < 0.7 ? minuteIn() : minuteIn() + 1n + microsIn(MINUTE_US - 2n);
    const subset = (values: readonly string[]): string[] => (next() < 0.6 ? [] : [...new Set([pick(values), ...(next() < 0.5 ? [pick(values)] : [])])].sort());
    return {
      selection: { tenantId: pick(tenants), filter: { startUs, endUs, eventTypes: subset(TYPES), serviceNames: subset(SERVICES), payloadContains: undefined }, notBeforeUs },
      grouping: { byEventType: next() < 0.5, byServiceName: next() < 0.5, bucketUs: pick(BUCKETS_US) },
      limit: next() < 0.2 ? 2 + Math.floor(next() * 20) : 10_001,
    };
  }

  test(`when ${CASES} random aligned Aggregate requests run on both paths, then each gives the same rows (seed ${SEED})`, async () => {
    /** The rows as comparable text, in one order. */
    const rowsOf = async (pool: pg.Pool, query: { text: string; values: unknown[] }): Promise<string[]> => (await pool.query(query)).rows.map((row) => JSON.stringify(row)).sort();
    let nonEmpty = 0;
    let bounded = 0;
    for (let batch = 0; batch < CASES; batch += 8) {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const { selection, grouping, limit } = randomRequest();
          expect(rollupsCanAnswer(selection, grouping)).toBe(true);
          const [fromScan, fromRollups] = await Promise.all([rowsOf(db.pool, aggregateQuery(selection, grouping, limit)), rowsOf(chatham, rollupAggregateQuery(selection, grouping, limit))]);
          const context = JSON.stringify({ selection, grouping, limit }, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
          if (fromScan.length < limit) {
            expect({ context, rows: fromRollups }).toEqual({ context, rows: fromScan });
          } else {
            // More groups than the bound: which ones come is unspecified, that there are too many is not.
            bounded++;
            expect({ context, rows: fromRollups.length }).toEqual({ context, rows: limit });
          }
          if (fromScan.length > 0 && !(fromScan.length === 1 && fromScan[0]!.includes('"matched":"0"'))) nonEmpty++;
        }),
      );
    }
    // The random requests were not all trivially empty or bounded.
    expect(nonEmpty).toBeGreaterThan(CASES / 3);
    expect(bounded).toBeGreaterThan(0);
  });
});
