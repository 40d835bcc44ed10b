/**
 * What the group-commit writer adds to its transaction for live tail
 * (StreamEvents with follow). Kept here so that event-writer.ts carries only
 * one lock statement and one CTE of it; docs/architecture.md ("Live tail")
 * explains the design.
 */

/** The channel of commit notices: one NOTIFY per tenant and chunk of keys stored by a writer transaction. */
export const LIVE_TAIL_CHANNEL = 'telemetry_vault_live_tail';

/**
 * The advisory lock key writers take shared for their whole transaction and
 * a new follower registration takes exclusively (see LiveTailRepository):
 * the registration waits out every writer transaction in flight, so every
 * writer transaction that commits after it saw the registration. The value is
 * arbitrary (PostgreSQL advisory keys are the application's to choose);
 * another application sharing the database must not use it.
 */
export const LIVE_TAIL_LOCK_KEY = 7_356_020_151_015;

/** Appended to the writer's BEGIN round trip: a statement of its own, so that the merge's snapshot is taken after the lock is held. */
export const LIVE_TAIL_WRITER_LOCK = `SELECT pg_advisory_xact_lock_shared(${LIVE_TAIL_LOCK_KEY})`;

/**
 * Bytes of keys per notice, measured as their JSON text: a notice is at most
 * this plus one key (<= 300 bytes: event ids are at most 128 printable ASCII
 * characters) plus ~80 bytes of header, under NOTIFY's 8000-byte payload limit.
 */
export const LIVE_TAIL_NOTICE_KEY_BYTES = 6000;

/**
 * The MERGE's CTE that notifies followers: for the rows the merge newly
 * inserted (CTE `inserted`, joined to `staged` for their timestamps) of the
 * group's tenants ($1) that someone follows, one pg_notify per tenant and
 * chunk of keys, carrying the transaction id: {"x": xid8, "t": tenant,
 * "k": [[timestamp_us, event_id], ...]}. PostgreSQL delivers notifications
 * only once the transaction has committed, in commit order. The EXISTS,
 * which uses no column of the rows, is planned as a one-time filter run
 * first: with no follower of the group's tenants it is one probe of the
 * registry and the join of the stored rows below it never runs (without it,
 * PostgreSQL joined every stored row and probed the registry once per row).
 * The merge's snapshot decides, as before: the writer's shared lock keeps
 * that race-free (see LIVE_TAIL_WRITER_LOCK). It yields
 * one row (an aggregate), which the merge's result cross-joins so that it
 * always runs.
 */
export const LIVE_TAIL_NOTIFY_CTE = `live_tail AS (
  SELECT count(pg_notify('${LIVE_TAIL_CHANNEL}', notice)) AS notices FROM (
    SELECT json_build_object('x', pg_current_xact_id()::text, 't', k.tenant_id, 'k', json_agg(json_build_array(k.ts_us, k.event_id)))::text AS notice
    FROM (
      SELECT i.tenant_id, i.event_id, (extract(epoch FROM s.ts) * 1000000)::bigint::text AS ts_us,
        sum(octet_length(to_json(i.event_id)::text) + 32) OVER (PARTITION BY i.tenant_id ORDER BY i.event_id) AS running
      FROM inserted i JOIN staged s ON s.tenant_id = i.tenant_id AND s.event_id = i.event_id
      WHERE EXISTS (SELECT 1 FROM live_tail_followers g WHERE g.tenant_id = ANY($1::uuid[]))
        AND i.tenant_id IN (SELECT f.tenant_id FROM live_tail_followers f WHERE f.tenant_id = ANY($1::uuid[]))
    ) k
    GROUP BY k.tenant_id, (k.running - 1) / ${LIVE_TAIL_NOTICE_KEY_BYTES}
  ) chunks
)`;
