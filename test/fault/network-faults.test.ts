import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
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
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { PATIENT_START, randomSeedToken, spawnServerProcess, type ServerProcess } from "../support/test-server.js";
import { clientOf, createTestTenant, type TestTenant } from "../support/test-tenant.js";

// A TCP fault proxy between the runtimes and the server breaks the network
// while writes go on (they reach the server directly). Whatever the fault,
// once it is over every runtime, SDK or grpc-js, holds what the server holds,
// and has seen every revision after it started exactly once, in order.

const HEARTBEAT_MS = 200;
/** How long each fault lasts: several heartbeats, so that stale streams are noticed and replaced. */
const FAULT_MS = 2000;

const adminToken = randomSeedToken();
let database: TestDatabase;
let server: ServerProcess;
let proxy: FaultProxy;
let tenant: TestTenant;
let runtimes: Runtime[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  server = await spawnServerProcess(
    {
      ENGINE_CLOUD_TOKEN: adminToken,
      ENGINE_CLOUD_DATA_DIR: database.dataDir,
      DATABASE_URL: database.databaseUrl ?? "",
      ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS),
    },
    [],
    PATIENT_START,
  );
  proxy = await startFaultProxy({ port: Number(new URL(server.url).port) });
  tenant = await createTestTenant({ url: server.url, adminToken });
});
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close()));
  proxy.forward();
  proxy.resume();
});
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
  await database?.drop();
});

/**
 * A project of its own with credentials, two SDK and two grpc-js runtimes
 * watching it through the proxy, and writers; runs `fault` amid the writes,
 * then checks every runtime against the server.
 */
async function underFault(fault: () => Promise<void>, { reconnects }: { reconnects: boolean }) {
  const project = `net-${randomBytes(4).toString("hex")}`;
  const admin = adminIn(server.url, adminToken, tenant.slug);
  await admin.projects.allowProject({ name: project });
  const deletable = await preexisting(admin, project, 12);
  const { secret } = await tenant.token();
  const start = (await serverState(clientOf(server, secret), project)).revision;
  const viaProxy = `http://127.0.0.1:${proxy.port}`;
  runtimes.push(
    await startSdkRuntime("sdk-1", viaProxy, secret, project, HEARTBEAT_MS),
    await startSdkRuntime("sdk-2", viaProxy, secret, project, HEARTBEAT_MS),
    startGrpcRuntime("grpc-js-1", `127.0.0.1:${proxy.port}`, secret, project, HEARTBEAT_MS),
    startGrpcRuntime("grpc-js-2", `127.0.0.1:${proxy.port}`, secret, project, HEARTBEAT_MS),
  );
  await Promise.all(runtimes.map((r) => r.ready));
  const writers = startWriters(admin, project, deletable);
  await afterWrites(writers, 10);
  const connectionsBefore = proxy.acceptedConnections;
  await fault();
  await afterWrites(writers, 10);
  await writers.stop();
  const state = await serverState(clientOf(server, secret), project);
  await untilConverged(runtimes, state.revision);
  expectConvergedRuntimes(runtimes, state, writers.acked, start);
  // The fault did hit: the runtimes had to open new connections to recover.
  if (reconnects) expect(proxy.acceptedConnections, "connections opened to recover").toBeGreaterThan(connectionsBefore);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("runtimes behind a faulty network", () => {
  it("deliver every change once, in order, through 300 ms of added delay", async () => {
    await underFault(
      async () => {
        proxy.delay(300);
        await sleep(FAULT_MS);
        proxy.forward();
      },
      { reconnects: false },
    );
  });

  it("recover every change once, in order, after a blackhole that drops every byte", async () => {
    await underFault(
      async () => {
        proxy.blackhole();
        await sleep(FAULT_MS);
        proxy.forward();
      },
      { reconnects: true },
    );
  });

  it("recover every change once, in order, after their connections are reset mid-stream, twice", async () => {
    await underFault(
      async () => {
        proxy.cutAll();
        await sleep(300);
        proxy.cutAll();
      },
      { reconnects: true },
    );
  });

  it("recover every change once, in order, after the network stalls and resumes", async () => {
    await underFault(
      async () => {
        proxy.pause();
        await sleep(FAULT_MS);
        proxy.resume();
      },
      { reconnects: true },
    );
  });
});
