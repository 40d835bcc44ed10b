-- Up Migration

-- Deployment-wide secrets, made once by the first migration run. Every server
-- instance on this database reads the same values at start-up, so that what
-- one instance signs another can check (a paging cursor issued by instance A
-- is accepted by instance B) with no configuration to share by hand.
CREATE TABLE vault_secrets (
  name       text PRIMARY KEY,
  value      bytea NOT NULL CHECK (octet_length(value) >= 32),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The key paging cursors are signed with (HMAC-SHA256). Two version-4 UUIDs
-- come from PostgreSQL's cryptographically strong generator (no pgcrypto
-- needed): 244 random bits. QUERY_CURSOR_SECRET overrides it.
INSERT INTO vault_secrets (name, value)
VALUES ('cursor-signing-key', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));

-- Down Migration
DROP TABLE vault_secrets;
