/**
 * Runtime presence: one row per Watch stream, open or recently ended
 * (RuntimeService.ListRuntimes). Written only by the server itself, in
 * batches across tenants (sync/presence-buffer.ts), on the owner connection;
 * the application role may only read its own tenant's rows.
 *
 * A row is connected while disconnected_at is null and stale_at, which its
 * writer pushes forward on every flush by three flush intervals, is still in
 * the future on the database's clock: a process that dies stops pushing, and
 * its streams read as offline from stale_at on, whatever the readers' clocks
 * or flush settings. Rows offline for longer than the retention are purged
 * (jobs/presence-purge.ts).
 */
export const name = "runtime_presence";
export const up = /* sql */ `
CREATE TABLE runtime_presence (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  stream_id uuid NOT NULL,
  -- the credential behind the stream: a token (its id and label) or a person's session (user id and email)
  principal_kind text NOT NULL CHECK (principal_kind IN ('token', 'user')),
  principal_id text NOT NULL,
  principal_label text NOT NULL,
  project text NOT NULL,
  runtime_id text NOT NULL DEFAULT '',
  -- RuntimeInfo, as the runtime described itself
  name text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '',
  host text NOT NULL DEFAULT '',
  sdk text NOT NULL DEFAULT '',
  sdk_version text NOT NULL DEFAULT '',
  language text NOT NULL DEFAULT '',
  server_instance text NOT NULL,
  connected_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  stale_at timestamptz NOT NULL,
  disconnected_at timestamptz,
  revision_delivered bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, stream_id)
);
CREATE INDEX runtime_presence_listing ON runtime_presence (tenant_id, project, stream_id);
CREATE INDEX runtime_presence_expiry ON runtime_presence ((coalesce(disconnected_at, stale_at)));

ALTER TABLE runtime_presence ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON runtime_presence
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());

GRANT SELECT ON runtime_presence TO engine_app;
`;
