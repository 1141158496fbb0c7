/**
 * Tenants, tokens, project policy, and the row-level security that confines
 * the application role to one tenant per transaction.
 *
 * Tenant-owned tables lead their primary key with tenant_id. Their policies
 * compare it with `engine.tenant_id`, which the tenant transaction helper sets
 * with SET LOCAL semantics; an unset tenant matches no row.
 */
export const name = "foundation";
export const up = /* sql */ `
DO $$
BEGIN
  CREATE ROLE engine_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- the role is cluster-wide: another database of this cluster made it
END $$;

DO $$
BEGIN
  EXECUTE format('GRANT engine_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
  NULL; -- superusers may SET ROLE without membership; others must be granted it by a DBA
END $$;

CREATE FUNCTION engine_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE
  AS $f$ SELECT nullif(current_setting('engine.tenant_id', true), '')::uuid $f$;

CREATE TABLE server_secrets (
  name text PRIMARY KEY,
  value bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL UNIQUE,
  display_name text NOT NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended', 'deleted')),
  -- The operator's own tenant: home of platform admin tokens; never suspended or deleted.
  is_operator boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX tenants_one_operator ON tenants (is_operator) WHERE is_operator;
CREATE INDEX tenants_created ON tenants (created_at, id);

CREATE TABLE tokens (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('platform_admin', 'tenant_admin', 'runtime', 'service')),
  label text NOT NULL,
  display_prefix text NOT NULL,
  -- HMAC-SHA-256 of the plaintext under the server's token key; the plaintext is never stored.
  secret_hash bytea NOT NULL UNIQUE,
  -- Set for a token seeded from ENGINE_CLOUD_TOKEN: any string, not our format.
  free_form boolean NOT NULL DEFAULT false,
  projects text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tokens_listing ON tokens (tenant_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX tokens_id ON tokens (id);

CREATE TABLE projects (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  state text NOT NULL CHECK (state IN ('allowed', 'denied')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = engine_current_tenant()) WITH CHECK (id = engine_current_tenant());
ALTER TABLE tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tokens
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());

GRANT SELECT ON tenants TO engine_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tokens, projects TO engine_app;
`;
