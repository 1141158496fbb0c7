/**
 * Three Engine Cloud replicas on one PostgreSQL database, HAProxy in front (deploy/haproxy/haproxy.cfg), on
 * loopback: the topology of deploy/compose/compose.yaml without a container engine. Prints the balancer's URL,
 * the admin token and each replica's PID and URL, then waits; Ctrl-C stops everything and drops the database.
 *
 *   scripts/replicas-demo.sh [postgres://postgres@127.0.0.1:5432/postgres]
 *
 * Try, in another shell: `engine-cloud sync watch` through the balancer, `kill -9 <pid>` of one replica,
 * `kill <pid>` (drain) of another, and watch the runtime move and catch up.
 */
import { randomBytes } from "node:crypto";

process.env.ENGINE_TEST_POSTGRES_URL =
  process.argv[2] ?? process.env.ENGINE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const { startReplicaFleet } = await import("../test/support/replica-fleet.js");

const adminToken = randomBytes(32).toString("hex");
const fleet = await startReplicaFleet(3, adminToken);
console.log(
  [
    "",
    `  balancer (gRPC, gRPC-Web, Connect):  ${fleet.url}`,
    ...fleet.replicas.map((r, i) => `  replica ${i + 1}: pid ${r.child.pid}  ${r.url}`),
    "",
    `  export ENGINE_CLOUD_URL=${fleet.url} ENGINE_CLOUD_TOKEN=${adminToken}`,
    "  engine-cloud tenant create demo && engine-cloud --tenant demo project allow app",
    "",
    "  Ctrl-C stops the replicas and HAProxy and drops the database.",
  ].join("\n"),
);
await new Promise<void>((resolve) => {
  process.once("SIGINT", resolve);
  process.once("SIGTERM", resolve);
});
await fleet.stop();
