-- Up Migration

-- Tenants own API keys and events. The rate-limit columns override the
-- server-wide defaults when set (NULL = use the default).
CREATE TABLE tenants (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name              text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  calls_per_minute  integer CHECK (calls_per_minute > 0),
  events_per_second integer CHECK (events_per_second > 0),
  event_burst       integer CHECK (event_burst > 0),
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored only as SHA-256 hashes; the prefix (the key's first
-- characters) lets people tell keys apart in listings.
CREATE TABLE api_keys (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key_hash   bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  prefix     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id);

-- The events. Ready for time partitioning: no foreign keys point into or out
-- of it (tenant_id comes only from an authenticated key, and a foreign key
-- would cost a lookup per ingested row), no serial id, and every index leads
-- with tenant_id. Text keys use the "C" collation: byte order is what the
-- keyset cursor compares, and it is the cheapest to maintain.
CREATE TABLE events (
  tenant_id    uuid NOT NULL,
  event_id     text COLLATE "C" NOT NULL,
  "timestamp"  timestamptz NOT NULL,
  event_type   text COLLATE "C" NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
  received_at  timestamptz NOT NULL DEFAULT now(),
  -- Idempotency: the first write of a (tenant, event_id) wins.
  CONSTRAINT events_tenant_id_event_id_key UNIQUE (tenant_id, event_id)
);

-- The keyset: (timestamp, event_id) in both orders, per tenant.
CREATE INDEX events_tenant_time_idx ON events (tenant_id, "timestamp" DESC, event_id DESC);
-- Type and service filters keep the same keyset order after the filter column.
CREATE INDEX events_tenant_type_time_idx ON events (tenant_id, event_type, "timestamp" DESC, event_id DESC);
CREATE INDEX events_tenant_service_time_idx ON events (tenant_id, service_name, "timestamp" DESC, event_id DESC);

-- Down Migration
DROP TABLE events;
DROP TABLE api_keys;
DROP TABLE tenants;
