/**
 * One change log per tenant for every kind of resource a runtime syncs
 * (store/change-log.ts). Resource tables (credentials, projects) hold current
 * state only; the log says what changed at which revision, tombstones
 * included, so a new kind joins the Watch stream by writing here.
 *
 * Shape: the latest change per (tenant, kind, resource), not every change.
 * A runtime only ever needs the current state of what changed after its
 * revision, so an update replaces the resource's row (its revision moves up)
 * and the log stays the size of the tenant's resources plus its retained
 * tombstones: the same bound as the credentials table had when it was the
 * log, instead of growing with every write. Catch-up and fan-out are one
 * range scan on (tenant_id, revision); the primary key is the upsert target.
 *
 * `project` is the visibility scope: a credential's project ("" for
 * tenant-wide), a project record's own name. A delete keeps the row with
 * `deleted_at` set and `tombstone` holding what the delete message needs
 * (a credential's provider and alias), so the resource row itself can go.
 *
 * Backfill: every credential row (live ones and tombstones, at their
 * revisions), then each tenant's project records at revision 0. Projects
 * never took revisions before; giving them new ones would move every
 * tenant's revision and so change what today's runtimes are sent (the
 * revision of RESET, CAUGHT_UP and heartbeats). At 0 they are in every
 * snapshot and in no resumed catch-up, which is right: only a runtime that
 * names kinds sees them, and one that starts naming kinds starts from a
 * snapshot. The credential tombstones then leave the credentials table,
 * which no longer needs a deleted_at column.
 */
export const name = "change_log";
export const up = /* sql */ `
CREATE TABLE tenant_changes (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  kind text NOT NULL CHECK (kind IN ('credential', 'project')),
  resource_id text NOT NULL,
  revision bigint NOT NULL,
  project text NOT NULL DEFAULT '',
  deleted_at timestamptz,
  tombstone jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, kind, resource_id)
);
CREATE INDEX tenant_changes_revision ON tenant_changes (tenant_id, revision);
-- the purge finds old tombstones without scanning live rows (as 0005 did for credentials)
CREATE INDEX tenant_changes_tombstones ON tenant_changes (deleted_at) WHERE deleted_at IS NOT NULL;

ALTER TABLE tenant_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_changes
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_changes TO engine_app;

INSERT INTO tenant_changes (tenant_id, kind, resource_id, revision, project, deleted_at, tombstone)
SELECT tenant_id, 'credential', id::text, revision, project, deleted_at,
       CASE WHEN deleted_at IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('provider', provider, 'alias', alias) END
FROM credentials;

INSERT INTO tenant_changes (tenant_id, kind, resource_id, revision, project)
SELECT tenant_id, 'project', name, 0, name FROM projects;

DELETE FROM credentials WHERE deleted_at IS NOT NULL;
DROP INDEX credentials_tombstones;
DROP INDEX credentials_revision;
-- dropping the column drops the partial unique index on live names; every row is live now
ALTER TABLE credentials DROP COLUMN deleted_at;
CREATE UNIQUE INDEX credentials_name ON credentials (tenant_id, project, provider, alias);
`;
