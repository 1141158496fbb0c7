import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
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
} from "../support/runtime-fleet.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/test-database.js";
import { PATIENT_START, randomSeedToken, spawnServerProcess, type ServerProcess } from "../support/test-server.js";
import { clientOf, createTestTenant } from "../support/test-tenant.js";

// SIGTERM of the server while runtimes stream and writes are in flight,
// behind a load balancer (a fault proxy that sends new connections to a
// second server on the same database; on PGlite the second one starts once
// the first has exited, as the data directory allows one process at a time).
// The first server exits cleanly, no acknowledged write is lost, and every
// runtime moves to the second server and holds what it holds. The test holds
// the invariant, not the way streams are ended.

const HEARTBEAT_MS = 200;
const PROJECT = "sigterm";

const adminToken = randomSeedToken();
let database: TestDatabase;
let balancer: FaultProxy;
const servers: ServerProcess[] = [];
const runtimes: Runtime[] = [];

const start = async () => {
  const server = await spawnServerProcess(
    {
      ENGINE_CLOUD_TOKEN: adminToken,
      ENGINE_CLOUD_DATA_DIR: database.dataDir,
      DATABASE_URL: database.databaseUrl ?? "",
      ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS),
      ENGINE_CLOUD_SHUTDOWN_GRACE_MS: "2000",
    },
    [],
    PATIENT_START,
  );
  servers.push(server);
  return server;
};
const portOf = (s: ServerProcess) => Number(new URL(s.url).port);

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.close()));
  await balancer?.close();
  await Promise.all(servers.map((s) => s.stop()));
  await database?.drop();
});

describe("SIGTERM of a server while runtimes stream and writes are in flight", () => {
  it("exits cleanly, keeps every acknowledged write, and every runtime converges on the server that takes over", async () => {
    const first = await start();
    const second = onPostgres ? await start() : undefined;
    balancer = await startFaultProxy({ port: portOf(first) });
    const viaBalancer = `http://127.0.0.1:${balancer.port}`;
    const tenant = await createTestTenant({ url: viaBalancer, adminToken }, { allow: [PROJECT] });
    const admin = adminIn(viaBalancer, adminToken, tenant.slug);
    const deletable = await preexisting(admin, PROJECT, 12);
    const { secret } = await tenant.token();
    const startRevision = (await serverState(clientOf({ url: viaBalancer }, secret), PROJECT)).revision;
    runtimes.push(
      await startSdkRuntime("sdk-1", viaBalancer, secret, PROJECT, HEARTBEAT_MS),
      await startSdkRuntime("sdk-2", viaBalancer, secret, PROJECT, HEARTBEAT_MS),
      startGrpcRuntime("grpc-js-1", `127.0.0.1:${balancer.port}`, secret, PROJECT, HEARTBEAT_MS),
      startGrpcRuntime("grpc-js-2", `127.0.0.1:${balancer.port}`, secret, PROJECT, HEARTBEAT_MS),
    );
    await Promise.all(runtimes.map((r) => r.ready));
    const writers = startWriters(admin, PROJECT, deletable, 3, 20);
    await afterWrites(writers, 15);

    if (second) balancer.retarget(portOf(second));
    expect(await first.stop(), "exit code after SIGTERM").toBe(0);
    const successor = second ?? (await start());
    balancer.retarget(portOf(successor));

    await afterWrites(writers, 15, 60_000);
    await writers.stop();
    const state = await serverState(clientOf(successor, secret), PROJECT);
    await untilConverged(runtimes, state.revision);
    expectConvergedRuntimes(runtimes, state, writers.acked, startRevision);
  });
});
