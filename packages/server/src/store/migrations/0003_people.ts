/**
 * People: global user accounts, their memberships (a role per tenant),
 * sessions and invitations. Users are not tenant-owned, but row-level
 * security still lets the application role see only the users who are
 * members of the current tenant, and never the password hash column.
 */
export const name = "people";
export const up = /* sql */ `
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL,
  display_name text NOT NULL,
  password_hash text NOT NULL,
  -- Login throttling that holds across every server: consecutive failures and the lockout they earned.
  failed_logins integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  user_id uuid NOT NULL REFERENCES users (id),
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'builder', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id),
  secret_hash bytea NOT NULL UNIQUE,
  display_prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  idle_expires_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE invitations (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  email text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'builder', 'viewer')),
  code_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid,
  PRIMARY KEY (tenant_id, id)
);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY members_of_current_tenant ON users
  USING (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.tenant_id = engine_current_tenant()));

GRANT SELECT, INSERT, UPDATE, DELETE ON memberships, sessions, invitations TO engine_app;
-- Column grant: the application role can never read a password hash.
GRANT SELECT (id, email, display_name, disabled_at, created_at, last_login_at) ON users TO engine_app;
`;
