/**
 * The server processes sharing this database, each with a heartbeat. A
 * revocation waits until every live process has confirmed it applied the
 * change, so it takes effect on the very next request everywhere.
 */
export const name = "server_instances";
export const up = /* sql */ `
CREATE TABLE server_instances (
  id uuid PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
`;
