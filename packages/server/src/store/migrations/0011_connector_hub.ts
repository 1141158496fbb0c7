/**
 * The connector hub: OAuth apps (client credentials registered at a
 * provider, the secret sealed under the tenant's data key), connect flows
 * (the `state` of one browser round trip, stored only as its hash, with the
 * PKCE verifier sealed) and connections (one account at one provider, its
 * token set sealed).
 *
 * connections.next_refresh_at is the refresh engine's due-time column: the
 * partial index lets a leased job take the connections due next, across
 * tenants, without scanning the idle ones. oauth_flows.state_hash is unique
 * across tenants because the callback knows nothing but the state: it finds
 * the flow on the owner connection, then confines itself to that tenant.
 */
export const name = "connector_hub";
export const up = /* sql */ `
CREATE TABLE oauth_apps (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  provider text NOT NULL,
  client_id text NOT NULL,
  -- the client secret sealed under the tenant's data key; null for a public client
  sealed_secret bytea,
  scopes text[] NOT NULL DEFAULT '{}',
  -- only in the operator tenant: every tenant may use it
  shared boolean NOT NULL DEFAULT false,
  -- a tenant's custom provider (the OAuthProvider fields); null for catalog providers
  custom_provider jsonb,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_by text NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, provider)
);

CREATE TABLE oauth_flows (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  -- SHA-256 of the state parameter; the state itself is never stored
  state_hash bytea NOT NULL,
  provider text NOT NULL,
  project text NOT NULL DEFAULT '',
  alias text NOT NULL,
  redirect_uri text NOT NULL,
  -- the PKCE code verifier sealed under the tenant's data key; null without PKCE
  sealed_verifier bytea,
  -- the URL parameters the provider's templated URLs were filled with
  url_parameters jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL CHECK (status IN ('pending', 'exchanging', 'completed', 'failed')),
  error text NOT NULL DEFAULT '',
  error_description text NOT NULL DEFAULT '',
  connection_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- the initiating person or token: the connection is recorded as theirs
  created_by text NOT NULL,
  expires_at timestamptz NOT NULL,
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX oauth_flows_state ON oauth_flows (state_hash);
CREATE INDEX oauth_flows_expiry ON oauth_flows (expires_at);

CREATE TABLE connections (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  provider text NOT NULL,
  project text NOT NULL DEFAULT '',
  alias text NOT NULL,
  external_account text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'degraded', 'stale', 'needs_reauth', 'disconnected')),
  status_reason text NOT NULL DEFAULT '',
  status_description text NOT NULL DEFAULT '',
  scopes text[] NOT NULL DEFAULT '{}',
  -- non-secret fields of token responses (e.g. instance_url)
  metadata jsonb NOT NULL DEFAULT '{}',
  -- the values the provider's templated URLs were filled with at connect (token and revocation URLs need them too)
  url_parameters jsonb NOT NULL DEFAULT '{}',
  -- access token, refresh token, token type, sealed under the tenant's data key, bound to (id, generation); null when disconnected
  sealed_tokens bytea,
  -- whether the app is the operator tenant's shared one (else the tenant's own for the provider)
  shared_app boolean NOT NULL DEFAULT false,
  access_expires_at timestamptz,
  last_refresh_at timestamptz,
  next_refresh_at timestamptz,
  generation bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  updated_by text NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, provider, external_account)
);
CREATE UNIQUE INDEX connections_live_name ON connections (tenant_id, project, provider, alias) WHERE status <> 'disconnected';
CREATE INDEX connections_refresh_due ON connections (next_refresh_at) WHERE next_refresh_at IS NOT NULL;

ALTER TABLE oauth_apps ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oauth_apps
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE oauth_flows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oauth_flows
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
ALTER TABLE connections ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connections
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_apps, oauth_flows, connections TO engine_app;
`;
