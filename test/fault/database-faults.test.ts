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
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/test-database.js";
import { PATIENT_START, randomSeedToken, spawnServerProcess, type ServerProcess } from "../support/test-server.js";
import { clientOf, createTestTenant, type TestTenant } from "../support/test-tenant.js";

// PostgreSQL restarting and freezing under a server whose runtimes stream.
// The PostgreSQL of the test run is shared, so it is never restarted or
// stopped: a TCP fault proxy between the server and it cuts every connection
// and refuses new ones for a while (a restart), or stops forwarding (a
// freeze). Once the database is back, every runtime holds what the server
// holds and has seen every revision after it started exactly once.

const HEARTBEAT_MS = 200;
const OUTAGE_MS = 3000;

const adminToken = randomSeedToken();
let database: TestDatabase;
let proxy: FaultProxy;
let server: ServerProcess;
let tenant: TestTenant;
let runtimes: Runtime[] = [];

describe.skipIf(!onPostgres)("runtimes of a server whose PostgreSQL restarts or freezes", () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.databaseUrl!);
    proxy = await startFaultProxy({ port: Number(url.port || 5432), host: url.hostname });
    url.host = `127.0.0.1:${proxy.port}`;
    server = await spawnServerProcess(
      {
        ENGINE_CLOUD_TOKEN: adminToken,
        ENGINE_CLOUD_DATA_DIR: database.dataDir,
        DATABASE_URL: url.toString(),
        ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS),
      },
      [],
      PATIENT_START,
    );
    tenant = await createTestTenant({ url: server.url, adminToken });
  });
  afterEach(async () => {
    proxy.forward();
    proxy.resume();
    await Promise.all(runtimes.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    if (server && server.child.exitCode !== null) console.log(`the server exited:\n${server.output().slice(-3000)}`);
    await server?.stop();
    await proxy?.close();
    await database?.drop();
  });

  /** Runtimes of a project of its own stream while writers write and `outage` breaks the database. */
  async function throughOutage(outage: () => Promise<void>) {
    const project = `db-${randomBytes(4).toString("hex")}`;
    const admin = adminIn(server.url, adminToken, tenant.slug);
    await admin.projects.allowProject({ name: project });
    const deletable = await preexisting(admin, project, 12);
    const { secret } = await tenant.token();
    const start = (await serverState(clientOf(server, secret), project)).revision;
    runtimes.push(
      await startSdkRuntime("sdk-1", server.url, secret, project, HEARTBEAT_MS),
      await startSdkRuntime("sdk-2", server.url, secret, project, HEARTBEAT_MS),
      startGrpcRuntime("grpc-js-1", new URL(server.url).host, secret, project, HEARTBEAT_MS),
      startGrpcRuntime("grpc-js-2", new URL(server.url).host, secret, project, HEARTBEAT_MS),
    );
    await Promise.all(runtimes.map((r) => r.ready));
    const writers = startWriters(admin, project, deletable);
    await afterWrites(writers, 10);
    await outage();
    // The database is back when writes are acknowledged again.
    await afterWrites(writers, 10, 60_000);
    await writers.stop();
    const state = await serverState(clientOf(server, secret), project);
    await untilConverged(runtimes, state.revision);
    expectConvergedRuntimes(runtimes, state, writers.acked, start);
  }

  it("converge with every change once after PostgreSQL restarts (every connection cut, new ones refused for 3 s)", async () => {
    await throughOutage(async () => {
      const before = proxy.acceptedConnections;
      proxy.refuse();
      proxy.cutAll();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      proxy.forward();
      await new Promise((r) => setTimeout(r, 200));
      expect(proxy.acceptedConnections, "the server tried to reconnect during the outage").toBeGreaterThan(before);
    });
  });

  it("converge with every change once after PostgreSQL freezes for 3 s", async () => {
    await throughOutage(async () => {
      proxy.pause();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      proxy.resume();
    });
  });
});
