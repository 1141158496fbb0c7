/**
 * Replicas behind HAProxy: fan-out through the balancer against direct, and how long a fleet takes to be back
 * at the latest revision after one replica is killed.
 *
 *   npx tsx --conditions=source bench/load-balancer.bench.ts --postgres URL [--runtimes N] [--trials N]
 *
 * The topology of test/fault/load-balancer.test.ts (test/support/replica-fleet.ts: one fresh database, three
 * server processes, HAProxy with deploy/haproxy/haproxy.cfg), with N raw Watch streams (bench/fanout-client.ts,
 * one HTTP/2 connection each). Direct: every stream on replica 1. Through the balancer: streams spread over
 * the three by HAProxy, two thirds of them told of each change by PostgreSQL NOTIFY from replica 1, where the
 * writes go. Figures are printed, never asserted.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { spawnSync } from "node:child_process";
import { parseBenchFlags } from "./bench-flags.js";
import { ClientFleet } from "./client-fleet.js";
import { wallClockMs } from "./fanout-client.js";
import { percentile } from "./load.js";

const USAGE = `usage: tsx --conditions=source bench/load-balancer.bench.ts --postgres URL [flags]
  --postgres URL     PostgreSQL server (a fresh database on it, dropped after); required
  --runtimes N       Watch streams (default 1000)
  --processes N      client processes the streams are split over (default 2)
  --trials N         changes timed per path (default 20)
  --tokens N         runtime tokens the streams use, round-robin (default 50)`;

if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { flags, usageError, positiveInt } = parseBenchFlags(
  {
    help: { type: "boolean" },
    postgres: { type: "string" },
    runtimes: { type: "string", default: "1000" },
    processes: { type: "string", default: "2" },
    trials: { type: "string", default: "20" },
    tokens: { type: "string", default: "50" },
  },
  USAGE,
);
if (!flags.postgres) usageError("--postgres is required: replicas share one PostgreSQL database");
const runtimes = positiveInt("runtimes", flags.runtimes!);
const processes = positiveInt("processes", flags.processes!);
const trials = positiveInt("trials", flags.trials!);
const tokenCount = positiveInt("tokens", flags.tokens!);

// The fleet's database helper reads the server URL from the environment the test suites use.
process.env.ENGINE_TEST_POSTGRES_URL = flags.postgres;
const { startReplicaFleet } = await import("../test/support/replica-fleet.js");
const { createCloudClient } = await import("@engine-cloud/sdk/node");
const { CredentialType, TokenKind } = await import("@engine-cloud/api");

const PROJECT = "lb-bench";
// Heartbeats would land inside measurements; HAProxy's 5 min timeouts are far above the bench's length.
const HEARTBEAT_MS = 600_000;
const FLEET_OPTIONS = { project: PROJECT, openTimeoutMs: 120_000, collectTimeoutMs: 20_000 };
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

const adminToken = randomBytes(32).toString("hex");
console.log(
  `load balancer · ${runtimes} runtimes · ${trials} trials · ${availableParallelism()} cores · load ${loadavg()[0].toFixed(1)} · ${new Date().toISOString()}`,
);
const fleet = await startReplicaFleet(3, adminToken, {
  ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS),
  ENGINE_CLOUD_LIMIT_TENANT_STREAMS: "100000",
});
const tenantSlug = `lb-${randomBytes(4).toString("hex")}`;
await createCloudClient({ baseUrl: fleet.replicas[0].url, token: adminToken }).tenants.createTenant({ slug: tenantSlug });
const admin = createCloudClient({ baseUrl: fleet.replicas[0].url, token: adminToken, tenant: tenantSlug });
await admin.projects.allowProject({ name: PROJECT });
const tokens: string[] = [];
for (let i = 0; i < tokenCount; i++) {
  tokens.push((await admin.tokens.createToken({ label: `lb-${i}`, kind: TokenKind.RUNTIME, projects: [PROJECT] })).secret);
}

let n = 0;
/** One credential put on replica 1: its revision and the wall-clock ms it was acknowledged at. */
async function write(): Promise<{ revision: number; ackAt: number }> {
  const alias = `c${n++}`;
  const { credential } = await admin.credentials.putCredential({
    project: PROJECT,
    provider: "lb",
    alias,
    type: CredentialType.API_KEY,
    keys: { api_key: { value: alias } },
  });
  return { revision: Number(credential!.revision), ackAt: wallClockMs() };
}

/** Fan-out of `trials` writes to every stream of `clients`: acknowledgement → stream, pooled, in ms. */
async function fanout(
  clients: InstanceType<typeof ClientFleet>,
): Promise<{ p50: number; p99: number; missing: number; reconnects: number }> {
  const latencies: number[] = [];
  let missing = 0;
  let reconnects = 0;
  for (let t = 0; t < trials; t++) {
    const { revision, ackAt } = await write();
    const got = await clients.collect(revision);
    missing += got.missing;
    reconnects = got.reconnects;
    for (const at of got.times) latencies.push(Math.max(0, at - ackAt));
    await new Promise((r) => setTimeout(r, 200));
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), missing, reconnects };
}

/** The live replicas' resident memory together, in bytes (Linux /proc). */
function replicasRss(): number {
  let total = 0;
  for (const r of fleet.replicas) {
    if (r.child.exitCode !== null || !r.child.pid) continue;
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${r.child.pid}/status`, "utf8"));
    total += m ? Number(m[1]) * 1024 : 0;
  }
  return total;
}

/** What the last withStreams measured: the replicas' RSS growth per runtime, 3 s after every stream opened. */
let lastBytesPerRuntime = NaN;

async function withStreams<T>(url: string, run: (clients: InstanceType<typeof ClientFleet>) => Promise<T>): Promise<T> {
  const clients = new ClientFleet(runtimes, processes, FLEET_OPTIONS);
  try {
    const since = (await write()).revision;
    const before = replicasRss();
    const opened = await clients.open(url, tokens, since);
    if (opened.failed > 0) throw new Error(`${opened.failed} streams did not open: ${opened.firstError}`);
    await new Promise((r) => setTimeout(r, 3000));
    lastBytesPerRuntime = (replicasRss() - before) / runtimes;
    // From here on a stream that ends reconnects as the SDK's does (backoff from 250 ms, 1 s ceiling here).
    clients.tell({ type: "reconnect", since, keep: true, maxBackoffMs: 1000 });
    return await run(clients);
  } finally {
    await clients.close();
  }
}

try {
  const measured = async (url: string) => ({ ...(await withStreams(url, fanout)), kb: lastBytesPerRuntime / 1024 });
  const direct = await measured(fleet.replicas[0].url);
  const peer = await measured(fleet.replicas[1].url);
  const balanced = await measured(fleet.url);
  console.log(
    "\n| path | runtimes | fan-out p50 ms | fan-out p99 ms | missing | reconnects | replicas' RSS KB / runtime |\n|---|---:|---:|---:|---:|---:|---:|",
  );
  const row = (path: string, f: typeof direct) =>
    console.log(`| ${path} | ${runtimes} | ${fmt(f.p50)} | ${fmt(f.p99)} | ${f.missing} | ${f.reconnects} | ${fmt(f.kb)} |`);
  row("direct (replica 1, writes there)", direct);
  row("direct (replica 2, told by NOTIFY)", peer);
  // Through the balancer the replicas hold the runtimes as streams on a few multiplexed HTTP/2 connections.
  row("through HAProxy (3 replicas)", balanced);
  console.log(`p99 through the balancer / direct: ${fmt(balanced.p99 / direct.p99, 2)}×`);

  // Reconnect: streams through the balancer reconnect as the SDK does (backoff from 250 ms, 1 s ceiling); one
  // replica is killed and a change written at once: the time until every stream holds it.
  const recovery = await withStreams(fleet.url, async (clients) => {
    const latest = (await write()).revision;
    await clients.collect(latest);
    const killedAt = wallClockMs();
    await fleet.replicas[1].kill9();
    const { revision } = await write();
    const got = await clients.collect(revision, 30_000);
    const times = got.times.sort((a, b) => a - b);
    return {
      missing: got.missing,
      reconnects: got.reconnects,
      p50: percentile(times, 0.5) - killedAt,
      p99: percentile(times, 0.99) - killedAt,
      max: times[times.length - 1] - killedAt,
    };
  });
  console.log(
    `\nSIGKILL of one of three replicas, ${runtimes} runtimes through HAProxy: ${recovery.reconnects} reconnected; ` +
      `every runtime at the latest revision after p50 ${fmt(recovery.p50)} ms, p99 ${fmt(recovery.p99)} ms, ` +
      `max ${fmt(recovery.max)} ms from the kill; ${recovery.missing} missing after 30 s`,
  );
} finally {
  await fleet.stop();
}
