-- Up Migration

-- Per-minute event counts by (tenant, minute, event type, service name), for
-- Aggregate (docs/architecture.md, "Rollups"). Two tables, because 16
-- concurrent streams of one tenant write the same few keys every minute:
--
-- * event_rollup_deltas: append-only. Every ingest transaction adds one row
--   per key it newly stored events for, in the same statement as the events
--   (the MERGE of src/storage/event-writer.ts), so the counts are exactly
--   those of the committed events. No unique index: concurrent writers never
--   wait for each other's row locks (no lock convoy on a hot minute).
-- * event_rollups: one row per key, written only by the compaction (one at a
--   time, under an advisory lock), which moves deltas into it in bounded
--   batches, each batch one transaction.
-- * event_rollups_hourly: the same compacted counts by hour, written by the
--   same compaction in the same transaction, so that a long range with hour
--   buckets reads 60 times fewer rows.
--
-- A minute's count is the sum of the key's row in event_rollups and of its
-- deltas; an hour's, of its row in event_rollups_hourly and of its deltas.
-- Readers sum the tables in one statement (one snapshot), so a compaction
-- that commits meanwhile never changes a result. minute is the start of the
-- minute, date_bin('1 minute', timestamp, epoch): independent of TimeZone.
CREATE TABLE event_rollup_deltas (
  tenant_id    uuid NOT NULL,
  minute       timestamptz NOT NULL,
  event_type   text COLLATE "C" NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  events       bigint NOT NULL CHECK (events > 0)
);
CREATE INDEX event_rollup_deltas_tenant_minute_idx ON event_rollup_deltas (tenant_id, minute);

CREATE TABLE event_rollups (
  tenant_id    uuid NOT NULL,
  minute       timestamptz NOT NULL,
  event_type   text COLLATE "C" NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  events       bigint NOT NULL CHECK (events > 0),
  -- INCLUDE: Aggregate reads a tenant's range with index-only scans.
  PRIMARY KEY (tenant_id, minute, event_type, service_name) INCLUDE (events)
);

CREATE TABLE event_rollups_hourly (
  tenant_id    uuid NOT NULL,
  hour         timestamptz NOT NULL,
  event_type   text COLLATE "C" NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  events       bigint NOT NULL CHECK (events > 0),
  PRIMARY KEY (tenant_id, hour, event_type, service_name) INCLUDE (events)
);

-- The events stored before this migration: counted once, straight into the
-- compacted table (no writer adds deltas for them).
INSERT INTO event_rollups (tenant_id, minute, event_type, service_name, events)
SELECT tenant_id, date_bin('1 minute', "timestamp", TIMESTAMPTZ 'epoch'), event_type, service_name, count(*)
FROM events
GROUP BY 1, 2, 3, 4;
INSERT INTO event_rollups_hourly (tenant_id, hour, event_type, service_name, events)
SELECT tenant_id, date_bin('1 hour', minute, TIMESTAMPTZ 'epoch'), event_type, service_name, sum(events)
FROM event_rollups
GROUP BY 1, 2, 3, 4;

-- Down Migration
DROP TABLE event_rollups_hourly;
DROP TABLE event_rollups;
DROP TABLE event_rollup_deltas;
