-- Up Migration

-- When a tenant last had events stored (updated at most once a minute per
-- tenant and instance): the cluster-wide "active tenants" metric counts the
-- tenants seen in the last 24 hours from it, without scanning events.
ALTER TABLE tenants ADD COLUMN last_seen_at timestamptz;

-- Down Migration
ALTER TABLE tenants DROP COLUMN last_seen_at;
