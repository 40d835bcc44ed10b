-- Up Migration

-- Per-tenant retention (issue 16): how long the tenant's events are kept.
-- NULL = the server-wide RETENTION (itself unset = forever).
ALTER TABLE tenants ADD COLUMN retention interval CHECK (retention > interval '0');

-- events becomes range-partitioned by event time. The table as it was is
-- not copied: it becomes the lowest partition, events_before, which holds
-- everything from MINVALUE up to the first whole UTC day after its newest
-- event (or after now(), when that is later or the table is empty). No
-- index is rebuilt (the three keyset indexes are the same and are attached
-- as they are; its range is checked by one scan), so the migration costs one
-- read of the table.
-- The server creates the partitions above that bound (EVENTS_PARTITION_INTERVAL
-- wide) before serving. events_before is never dropped, so that an event of
-- any past instant always has a partition; retention deletes its rows in
-- batches instead (docs/operations.md, "Retention").
--
-- Exactly-once: PostgreSQL requires the partition key in every unique index
-- of a partitioned table, so there is none on events: each partition has its
-- own UNIQUE (tenant_id, event_id) (events_before keeps the one it had; the
-- server gives each new partition one), and the merge's ON CONFLICT DO
-- NOTHING arbitrates on it. The guarantee becomes "the first write of
-- (tenant, event_id) within a partition wins" -- a retry carries the same
-- event, hence the same timestamp and partition (README, "Exactly-once").
ALTER TABLE events RENAME TO events_before;
ALTER TABLE events_before RENAME CONSTRAINT events_tenant_id_event_id_key TO events_before_tenant_id_event_id_key;
ALTER INDEX events_tenant_time_idx RENAME TO events_before_tenant_time_idx;
ALTER INDEX events_tenant_type_time_idx RENAME TO events_before_tenant_type_time_idx;
ALTER INDEX events_tenant_service_time_idx RENAME TO events_before_tenant_service_time_idx;

CREATE TABLE events (LIKE events_before INCLUDING DEFAULTS) PARTITION BY RANGE ("timestamp");
CREATE INDEX events_tenant_time_idx ON events (tenant_id, "timestamp" DESC, event_id DESC);
CREATE INDEX events_tenant_type_time_idx ON events (tenant_id, event_type, "timestamp" DESC, event_id DESC);
CREATE INDEX events_tenant_service_time_idx ON events (tenant_id, service_name, "timestamp" DESC, event_id DESC);

DO $$
DECLARE
  bound timestamptz := date_trunc('day', greatest(now(), coalesce((SELECT max("timestamp") FROM events_before), now())) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day';
BEGIN
  EXECUTE format('ALTER TABLE events ATTACH PARTITION events_before FOR VALUES FROM (MINVALUE) TO (%L)', bound);
END $$;

-- Down Migration
-- Only possible while everything is still in events_before (no event stored
-- at or past its upper bound): the partitions above it are dropped.
DO $$
DECLARE
  part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass AND inhrelid <> 'events_before'::regclass LOOP
    EXECUTE format('DROP TABLE %s', part);
  END LOOP;
END $$;
ALTER TABLE events DETACH PARTITION events_before;
DROP TABLE events;
ALTER TABLE events_before RENAME CONSTRAINT events_before_tenant_id_event_id_key TO events_tenant_id_event_id_key;
ALTER INDEX events_before_tenant_time_idx RENAME TO events_tenant_time_idx;
ALTER INDEX events_before_tenant_type_time_idx RENAME TO events_tenant_type_time_idx;
ALTER INDEX events_before_tenant_service_time_idx RENAME TO events_tenant_service_time_idx;
ALTER TABLE events_before RENAME TO events;
ALTER TABLE tenants DROP COLUMN retention;
