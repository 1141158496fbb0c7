/**
 * Leases for background work (store/leases.ts): one row per thing that must
 * be worked on by one process at a time, named by (kind, key) — a job is
 * ('job', its name); one work item, such as an OAuth connection to refresh,
 * is (its kind, its id). `generation` goes up by one on every claim and is
 * never reused: work commits only while the generation it claimed is current
 * (fencing), so a holder that stalled past its expiry cannot overwrite its
 * successor's work. Expiry is on the database's clock, so the processes'
 * clocks need not agree. No tenant data here: the application role has no
 * rights on it.
 */
export const name = "leases";
export const up = /* sql */ `
CREATE TABLE leases (
  kind text NOT NULL,
  key text NOT NULL,
  holder text,
  generation bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, key)
);
`;
