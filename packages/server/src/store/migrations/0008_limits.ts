/**
 * Limits and throttles that hold across server processes (limits/, auth/):
 *
 * - `tenants.limits`: a platform administrator's per-tenant overrides of the
 *   configured defaults, by limit name; rides the tenant's change event.
 * - `limit_counters`: running totals of admitted requests per rate key
 *   ("token:<id>", "tenant:<id>"). Each process adds what it admitted since its
 *   last flush, about once a second in one statement, and reads the total back.
 * - `stream_counts`: each process's open Watch streams per key, rewritten on
 *   its flush; rows of processes without a live heartbeat do not count.
 * - `login_lockouts`: failed sign-ins per keyed hash of an email (known or not,
 *   so no process can tell the two apart) and per source address.
 */
export const name = "limits";
export const up = /* sql */ `
ALTER TABLE tenants ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';

CREATE TABLE limit_counters (
  key text PRIMARY KEY,
  total bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stream_counts (
  instance_id uuid NOT NULL,
  key text NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (instance_id, key)
);

CREATE TABLE login_lockouts (
  key text PRIMARY KEY,
  failures integer NOT NULL,
  free_failures integer NOT NULL,
  forgive_ms integer NOT NULL,
  struck_at timestamptz NOT NULL,
  locked_until timestamptz
);
`;
