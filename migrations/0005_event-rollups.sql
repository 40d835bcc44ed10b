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
--
-- A count is the sum of the key's row in event_rollups and of its deltas;
-- readers sum both tables in one statement (one snapshot), so a compaction
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
  PRIMARY KEY (tenant_id, minute, event_type, service_name)
);
-- Aggregate reads a tenant's minute range with index-only scans.
CREATE INDEX event_rollups_tenant_minute_idx ON event_rollups (tenant_id, minute) INCLUDE (event_type, service_name, events);

-- The events stored before this migration: counted once, straight into the
-- compacted table (no writer adds deltas for them).
INSERT INTO event_rollups (tenant_id, minute, event_type, service_name, events)
SELECT tenant_id, date_bin('1 minute', "timestamp", TIMESTAMPTZ 'epoch'), event_type, service_name, count(*)
FROM events
GROUP BY 1, 2, 3, 4;

-- Down Migration
DROP TABLE event_rollups;
DROP TABLE event_rollup_deltas;
