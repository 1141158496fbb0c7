import { randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli-process.js";
import { HAPROXY_BINARY, startReplicaFleet, type ReplicaFleet } from "../support/replica-fleet.js";
import {
  adminIn,
  afterWrites,
  expectConvergedRuntimes,
  preexisting,
  serverState,
  startGrpcRuntime,
  startSdkRuntime,
  startWriters,
  untilConverged,
  type Runtime,
  type Writers,
} from "../support/runtime-fleet.js";
import { PYTHON_WITH_CLIENT, startPythonRuntime } from "../support/python-runtime.js";
import { onPostgres } from "../support/test-database.js";
import { randomSeedToken, type ServerProcess } from "../support/test-server.js";
import { clientOf, createTestTenant, type TestTenant } from "../support/test-tenant.js";

// The compose topology for real: one PostgreSQL database, three server
// processes, HAProxy in front with deploy/haproxy/haproxy.cfg. Runtimes (SDK,
// grpc-js and the Python client) hold Watch streams through the balancer while writers write on
// every replica directly; one replica is killed with SIGKILL, another drained
// with SIGTERM. Every runtime is back on the live replica, at the latest
// revision, within seconds, having seen every revision exactly once; the CLI,
// through the balancer, keeps answering.

const HEARTBEAT_MS = 200;
/** "Within a few seconds": from the fault to every runtime at the latest revision. */
const RECOVERY_MS = 8000;

const adminToken = randomSeedToken();
let fleet: ReplicaFleet;
let tenant: TestTenant;
let project: string;
let runtimes: Runtime[] = [];
let start: number;
let runtimeToken: string;

/** Writers on each live replica directly, so a change made anywhere must reach runtimes held anywhere. */
function writeOnEvery(replicas: ServerProcess[], deletable: string[]): Writers[] {
  const share = Math.ceil(deletable.length / replicas.length);
  return replicas.map((r, i) =>
    startWriters(adminIn(r.url, adminToken, tenant.slug), project, deletable.slice(i * share, (i + 1) * share), 1, 60),
  );
}

const openedStreams = () => runtimes.reduce((n, r) => n + r.streams(), 0);

const union = (writers: Writers[]) => ({
  puts: new Set(writers.flatMap((w) => [...w.acked.puts])),
  deletes: new Set(writers.flatMap((w) => [...w.acked.deletes])),
});

/** The CLI and the console, through the balancer, as an operator would use them during the incident. */
async function cliLists(): Promise<void> {
  // A new connection each time, as each CLI run and a browser's retry of a reused one get: a keep-alive socket
  // HAProxy closes while a replica drains would otherwise fail the GET without it having reached any replica.
  const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    http
      .get(`${fleet.url}/console/`, { agent: false }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
  expect(page.status, fleet.balancer.output().slice(-2000)).toBe(200);
  expect(page.body).toContain('<div id="root">');
  const run = await runCli(["token", "list", "--json"], {
    ENGINE_CLOUD_URL: fleet.url,
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_TENANT: tenant.slug,
  });
  expect(run.code, run.stderr + "\n" + fleet.balancer.output().slice(-3000)).toBe(0);
  expect(JSON.parse(run.stdout)).toBeDefined();
}

/** Stops the writers, reads the latest revision from a live replica, and waits for every runtime to reach it. */
async function settle(writers: Writers[], live: ServerProcess, faultAt: number): Promise<number> {
  await Promise.all(writers.map((w) => w.stop()));
  const state = await serverState(clientOf(live, runtimeToken), project);
  await untilConverged(runtimes, state.revision, RECOVERY_MS);
  const recoveredMs = performance.now() - faultAt;
  expectConvergedRuntimes(runtimes, state, union(writers), start);
  return recoveredMs;
}

describe.runIf(onPostgres && HAPROXY_BINARY)("replicas behind HAProxy", () => {
  beforeAll(async () => {
    fleet = await startReplicaFleet(3, adminToken, { ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS) });
    tenant = await createTestTenant({ url: fleet.url, adminToken });
    project = `lb-${randomBytes(4).toString("hex")}`;
    await tenant.admin.projects.allowProject({ name: project });
    runtimeToken = (await tenant.token()).secret;
  });
  afterAll(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close()));
    await fleet?.stop();
  });

  it("carries gRPC, gRPC-Web and Connect streams; a write on any replica reaches every runtime", async () => {
    const admin = adminIn(fleet.url, adminToken, tenant.slug);
    const deletable = await preexisting(admin, project, 24);
    start = (await serverState(clientOf({ url: fleet.url }, runtimeToken), project)).revision;
    const address = `127.0.0.1:${fleet.balancer.port}`;
    runtimes.push(
      await startSdkRuntime("sdk-connect", fleet.url, runtimeToken, project, HEARTBEAT_MS, "connect"),
      await startSdkRuntime("sdk-grpc-web", fleet.url, runtimeToken, project, HEARTBEAT_MS, "grpc-web"),
      startGrpcRuntime("grpc-js-1", address, runtimeToken, project, HEARTBEAT_MS),
      startGrpcRuntime("grpc-js-2", address, runtimeToken, project, HEARTBEAT_MS),
      // The Python client (gRPC over HTTP/2 through the balancer), where .ci/run has built its environment.
      ...(PYTHON_WITH_CLIENT
        ? [1, 2].map((i) => startPythonRuntime(`python-${i}`, fleet.url, runtimeToken, project, HEARTBEAT_MS))
        : []),
    );
    await Promise.all(runtimes.map((r) => r.ready));
    const writers = writeOnEvery(fleet.replicas, deletable.slice(0, 6));
    await Promise.all(writers.map((w) => afterWrites(w, 5)));
    await settle(writers, fleet.replicas[2], performance.now());
    for (const r of runtimes) expect(r.changes.length, r.name).toBeGreaterThanOrEqual(15);
    await cliLists();
  });

  it("after SIGKILL of one replica, every runtime is back at the latest revision within seconds", async () => {
    const streamsBefore = openedStreams();
    const writers = writeOnEvery(fleet.replicas.slice(1), []);
    await Promise.all(writers.map((w) => afterWrites(w, 3)));
    const faultAt = performance.now();
    await fleet.replicas[0].kill9();
    await cliLists();
    await Promise.all(writers.map((w) => afterWrites(w, 5)));
    await settle(writers, fleet.replicas[2], faultAt);
    // The killed replica held streams (the balancer spreads them by connection count): they moved.
    expect(openedStreams()).toBeGreaterThan(streamsBefore);
  });

  it("after a SIGTERM drain of another, every runtime is on the last replica at the latest revision", async () => {
    const streamsBefore = openedStreams();
    const writers = writeOnEvery([fleet.replicas[2]], []);
    await afterWrites(writers[0], 3);
    const faultAt = performance.now();
    const exit = fleet.replicas[1].stop();
    await cliLists();
    expect(await exit).toBe(0);
    await afterWrites(writers[0], 5);
    await settle(writers, fleet.replicas[2], faultAt);
    await cliLists();
    expect(openedStreams()).toBeGreaterThan(streamsBefore);
  });
});
