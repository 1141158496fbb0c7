/**
 * The connector hub's refresh engine (hub/refresh-engine.ts).
 *
 * Each connection is its own lease: refresh_holder and refresh_lease_until say
 * which server process works it until when, refresh_lease_generation is the
 * fencing generation (one more on every claim), so a holder that stalled past
 * its lease cannot commit over the next one. refresh_attempt_id/_at mark a
 * token request in flight, committed before the request is sent: a claimer
 * that finds one left by a dead holder knows the outcome is unknown (the
 * provider may have rotated the refresh token), not failed. refresh_failures
 * counts consecutive transient failures for the backoff;
 * last_forced_refresh_at is the cooldown of runtime-reported refreshes.
 *
 * credentials.connection_link marks a credential the hub writes (the
 * connection's id and status, as runtimes see it); people cannot put or
 * delete one.
 */
export const name = "hub_refresh";
export const up = /* sql */ `
ALTER TABLE connections
  ADD COLUMN refresh_holder text,
  ADD COLUMN refresh_lease_until timestamptz,
  ADD COLUMN refresh_lease_generation bigint NOT NULL DEFAULT 0,
  ADD COLUMN refresh_attempt_id uuid,
  ADD COLUMN refresh_attempt_at timestamptz,
  ADD COLUMN refresh_failures integer NOT NULL DEFAULT 0,
  ADD COLUMN last_forced_refresh_at timestamptz;

ALTER TABLE credentials ADD COLUMN connection_link jsonb;
`;
