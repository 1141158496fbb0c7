/**
 * The credential vault: per-tenant data keys (stored only wrapped by the root
 * key), credentials with sealed secrets and tombstones, and the per-tenant
 * revision counter.
 *
 * tenant_revisions is the ordering device for sync: a writer takes the next
 * revision with an UPDATE of the tenant's row, which holds that row lock until
 * commit. Writers of one tenant therefore commit in revision order, and a
 * reader can never see revision n+1 while n is still invisible (a sequence
 * would hand out numbers before commit and let a reader skip n forever).
 */
export const name = "vault";
export const up = /* sql */ `
CREATE TABLE tenant_keys (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  -- nonce || AES-256-GCM(root key, data key) || tag, bound to the tenant id
  wrapped_key bytea NOT NULL,
  -- fingerprint of the root key that wraps it (never the key)
  root_key_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  rewrapped_at timestamptz
);

CREATE TABLE tenant_revisions (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  revision bigint NOT NULL DEFAULT 0,
  -- tombstones up to here were purged: a runtime resuming from before it gets a RESET
  retained_from bigint NOT NULL DEFAULT 0
);

CREATE TABLE credentials (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  project text NOT NULL DEFAULT '',
  provider text NOT NULL,
  alias text NOT NULL,
  type text NOT NULL CHECK (type IN ('oauth2', 'api_key', 'basic', 'generic')),
  identity jsonb NOT NULL DEFAULT '{}',
  metadata jsonb NOT NULL DEFAULT '{}',
  scopes text[] NOT NULL DEFAULT '{}',
  -- key names and expiries: what a listing may show
  key_info jsonb NOT NULL DEFAULT '{}',
  -- the secret values, sealed under the tenant's data key; null on a tombstone
  sealed_keys bytea,
  auto_refresh boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_by text NOT NULL,
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX credentials_live_name ON credentials (tenant_id, project, provider, alias) WHERE deleted_at IS NULL;
CREATE INDEX credentials_revision ON credentials (tenant_id, revision);

ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_keys
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE tenant_revisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_revisions
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE credentials ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON credentials
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_keys, tenant_revisions, credentials TO engine_app;
`;
