-- Up Migration

-- The tenants someone follows (StreamEvents with follow), one row per tenant
-- and server instance that has followers of it. The group-commit writer sends
-- a NOTIFY with the keys of the rows it stores only for tenants listed here,
-- so ingest pays nothing for live tail while nobody follows. An instance
-- refreshes its rows' expires_at while it has followers and deletes them when
-- the last one leaves; rows of an instance that died are deleted by the
-- others once expired. See docs/architecture.md, "Live tail".
CREATE TABLE live_tail_followers (
  tenant_id   uuid NOT NULL,
  instance_id uuid NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, instance_id)
);

-- Down Migration
DROP TABLE live_tail_followers;
