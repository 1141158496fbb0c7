/**
 * The audit log (issue 13): one hash chain per tenant and one for the
 * platform, each event written in the transaction of the change or read it
 * records (store/audit-log.ts).
 *
 * Heads: the chain's last sequence number and hash live in their own row,
 * not in tenant_revisions, so an audited read locks only its chain's head
 * and never queues behind the credential writers' revision lock; chains of
 * different tenants never wait for each other (research: one global chain
 * caps at a third of per-tenant throughput). The head row lock serialises
 * one chain's appends, so a chain's sequence numbers commit in order with no
 * gap: a reader resuming from `seq > n` misses nothing.
 *
 * `chain` is the tenant id as text, or 'platform' for what is no one tenant's
 * (tenant creation, platform tokens). Row-level security confines the
 * application role to its tenant's chain; the platform chain (tenant_id NULL)
 * is reachable from the owner connection only.
 *
 * Append-only: the application role may insert and select events, never
 * update or delete them, and a trigger refuses UPDATE and DELETE for every
 * role except the retention purge, which says so in its transaction
 * (`engine.audit_purge`). Checkpoints (signed chain heads) go in their own
 * table so a purge can keep the chain verifiable from the last checkpoint
 * before what it removes.
 */
export const name = "audit_log";
export const up = /* sql */ `
CREATE TABLE audit_heads (
  chain text PRIMARY KEY,
  tenant_id uuid REFERENCES tenants (id),
  seq bigint NOT NULL DEFAULT 0,
  hash bytea NOT NULL,
  CHECK ((chain = 'platform' AND tenant_id IS NULL) OR chain = tenant_id::text)
);
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
GRANT SELECT, INSERT, UPDATE ON audit_heads TO engine_app;

CREATE TABLE audit_events (
  chain text NOT NULL,
  seq bigint NOT NULL,
  tenant_id uuid,
  at timestamptz NOT NULL,
  actor jsonb NOT NULL,
  request_id text NOT NULL DEFAULT '',
  peer text NOT NULL DEFAULT '',
  user_agent text NOT NULL DEFAULT '',
  action text NOT NULL,
  target text NOT NULL,
  outcome text NOT NULL DEFAULT 'ok',
  detail jsonb NOT NULL DEFAULT '{}',
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL,
  PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_events_time ON audit_events (chain, at);
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
GRANT SELECT, INSERT ON audit_events TO engine_app;

CREATE FUNCTION engine_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('engine.audit_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION engine_audit_append_only();

CREATE TABLE audit_checkpoints (
  chain text NOT NULL,
  seq bigint NOT NULL,
  tenant_id uuid,
  hash bytea NOT NULL,
  at timestamptz NOT NULL,
  key_id text NOT NULL,
  signature bytea NOT NULL,
  PRIMARY KEY (chain, seq)
);
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_checkpoints
  USING (tenant_id = engine_current_tenant()) WITH CHECK (tenant_id = engine_current_tenant());
GRANT SELECT, INSERT ON audit_checkpoints TO engine_app;
`;
