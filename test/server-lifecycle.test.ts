import http from "node:http";
import net from "node:net";
import { ProjectState, TenantState, TokenKind } from "@engine-cloud/api";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { describe, expect, it } from "vitest";
import { runServerUntilExit } from "./support/server-exit.js";
import type { TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, startTestServer, type ServerProcess } from "./support/test-server.js";
import { perTestCleanup } from "./support/per-test-cleanup.js";

// Each test starts servers on a database of its own and stops them itself.
const { defer, freshDatabase } = perTestCleanup();

const databaseEnv = (database: TestDatabase) => ({
  ENGINE_CLOUD_DATA_DIR: database.dataDir,
  DATABASE_URL: database.databaseUrl ?? "",
});

/** Server processes take seconds to start (PGlite initialises its data directory): more than the default timeout when busy. */
const SPAWNED_SERVER_MS = 90_000;

const problemLines = (stderr: string) => stderr.split("\n").filter((l) => /^\s+- /.test(l));

describe("configuration", () => {
  it("exits with code 2 and one line per problem when several settings are wrong", async () => {
    const database = await freshDatabase();
    const run = await runServerUntilExit({
      ...databaseEnv(database),
      ENGINE_CLOUD_TOKEN: randomSeedToken(),
      ENGINE_CLOUD_LISTEN: "nonsense",
      ENGINE_CLOUD_LOG_LEVEL: "loud",
      DATABASE_URL: "mysql://x",
    });
    expect(run.code).toBe(2);
    const problems = problemLines(run.stderr);
    expect(problems).toHaveLength(3);
    expect(problems.find((l) => l.includes("ENGINE_CLOUD_LISTEN"))).toContain('"nonsense"');
    expect(problems.find((l) => l.includes('"loud"'))).toMatch(/debug, info, warn, error/);
    expect(problems.find((l) => l.includes("DATABASE_URL"))).toMatch(/postgres:\/\//);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run.stdout).toBe("");
  });

  it("exits with code 2 on an unknown flag, naming it", async () => {
    const run = await runServerUntilExit({ ENGINE_CLOUD_TOKEN: randomSeedToken() }, ["--no-such-flag"]);
    expect(run.code).toBe(2);
    expect(problemLines(run.stderr).join("\n")).toContain("--no-such-flag");
  });

  it("lets a flag override the environment: a bad --listen is refused even with a good ENGINE_CLOUD_LISTEN", async () => {
    const run = await runServerUntilExit({ ENGINE_CLOUD_TOKEN: randomSeedToken(), ENGINE_CLOUD_LISTEN: "127.0.0.1:0" }, [
      "--listen",
      "not-a-port",
    ]);
    expect(run.code).toBe(2);
    expect(problemLines(run.stderr)).toEqual([expect.stringContaining('"not-a-port" is not host:port')]);
  });
});

/** A process's exit code, once it has exited; never sends a signal itself. */
const exitCodeOf = (proc: ServerProcess) =>
  proc.child.exitCode !== null
    ? Promise.resolve(proc.child.exitCode)
    : new Promise<number | null>((resolve) => proc.child.once("exit", (code) => resolve(code)));

/**
 * A Connect call whose request body arrives in two parts: between them, the
 * call is in flight on the server, which waits for the rest.
 */
function startSlowCall(url: string) {
  const { hostname, port } = new URL(url);
  const body = "{}";
  const req = http.request({
    host: hostname,
    port,
    method: "POST",
    path: "/engine.cloud.v1.ServerService/GetServerInfo",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", "content-length": body.length },
  });
  const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => (text += d)).on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", reject);
  });
  req.write(body.slice(0, 1));
  return {
    answered,
    finish: () => req.end(body.slice(1)),
  };
}

function connectionRefused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

/** Long enough for request headers written on loopback to be read by the server. */
const HEADERS_ARRIVE_MS = 500;

/** A server process with a call in flight, just sent SIGTERM and saying it is shutting down. */
async function terminatedWithCallInFlight() {
  const database = await freshDatabase();
  const proc = await spawnServerProcess({
    ...databaseEnv(database),
    ENGINE_CLOUD_TOKEN: randomSeedToken(),
    ENGINE_CLOUD_SHUTDOWN_GRACE_MS: "20000",
  });
  defer(() => proc.kill9());
  const call = startSlowCall(proc.url);
  await new Promise((r) => setTimeout(r, HEADERS_ARRIVE_MS));
  proc.child.kill("SIGTERM");
  await expect.poll(() => proc.output(), { timeout: 10_000 }).toContain('"msg":"shutting down"');
  return { proc, call };
}

describe("graceful shutdown", () => {
  it(
    "lets a call in flight at SIGTERM finish, then exits 0",
    async () => {
      const { proc, call } = await terminatedWithCallInFlight();
      expect(proc.child.exitCode).toBeNull(); // still waiting for the call
      call.finish();
      const answer = await call.answered;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ api: "engine.cloud.v1" });
      expect(await exitCodeOf(proc)).toBe(0);
      expect(proc.output()).toContain('"signal":"SIGTERM"');
    },
    SPAWNED_SERVER_MS,
  );

  it(
    "refuses new connections once it is shutting down, while a call is still finishing",
    async () => {
      const { proc, call } = await terminatedWithCallInFlight();
      expect(await connectionRefused(proc.url)).toBe(true);
      call.finish();
      await call.answered;
      expect(await exitCodeOf(proc)).toBe(0);
    },
    SPAWNED_SERVER_MS,
  );

  it(
    "exits 0 on SIGTERM when idle",
    async () => {
      const database = await freshDatabase();
      const proc = await spawnServerProcess({ ...databaseEnv(database), ENGINE_CLOUD_TOKEN: randomSeedToken() });
      defer(() => proc.kill9());
      await createCloudClient({ baseUrl: proc.url }).server.getServerInfo({});
      expect(await proc.stop()).toBe(0);
      expect(proc.output()).toContain('"msg":"shutting down"');
    },
    SPAWNED_SERVER_MS,
  );
});

describe("drain delay", () => {
  it(
    "reports not ready at SIGTERM but keeps serving new connections and calls for the delay, then exits 0",
    async () => {
      const database = await freshDatabase();
      const proc = await spawnServerProcess({
        ...databaseEnv(database),
        ENGINE_CLOUD_TOKEN: randomSeedToken(),
        ENGINE_CLOUD_DRAIN_DELAY_MS: "3000",
      });
      defer(() => proc.kill9());
      expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);
      const sentAt = performance.now();
      const exit = proc.stop();
      await expect.poll(() => proc.output(), { timeout: 10_000 }).toContain('"msg":"out of rotation');
      // Out of rotation: the balancer's check fails, yet a request it sent meanwhile, on a new connection, succeeds.
      expect((await fetch(`${proc.url}/readyz`)).status).toBe(503);
      const info = await createCloudClient({ baseUrl: proc.url }).server.getServerInfo({});
      expect(info.api).toBe("engine.cloud.v1");
      expect(proc.child.exitCode).toBeNull();
      expect(await exit).toBe(0);
      expect(performance.now() - sentAt).toBeGreaterThanOrEqual(3000);
    },
    SPAWNED_SERVER_MS,
  );
});

describe("restart", () => {
  it("keeps tenants, tokens and project policy across a restart on the same data", async () => {
    const database = await freshDatabase();
    const adminToken = randomSeedToken();
    const first = await startTestServer({ database, env: { ENGINE_CLOUD_TOKEN: adminToken } });
    defer(() => first.stop());
    await first.admin().tenants.createTenant({ slug: "kept", displayName: "Kept Ltd" });
    const { secret, token } = await first.admin("kept").tokens.createToken({ label: "kept-runtime", kind: TokenKind.RUNTIME });
    await first.admin("kept").projects.allowProject({ name: "web" });
    await first.admin("kept").projects.denyProject({ name: "legacy" });
    await first.stop();

    const second = await startTestServer({ database, env: { ENGINE_CLOUD_TOKEN: adminToken } });
    defer(() => second.stop());
    const tenant = (await second.admin().tenants.getTenant({ tenant: "kept" })).tenant!;
    expect([tenant.displayName, tenant.state]).toEqual(["Kept Ltd", TenantState.ACTIVE]);
    expect((await second.client(secret).auth.whoAmI({})).principalId).toBe(token!.id);
    const { projects } = await second.admin("kept").projects.listProjects({});
    expect(projects.map((p) => [p.name, p.state])).toEqual([
      ["legacy", ProjectState.DENIED],
      ["web", ProjectState.ALLOWED],
    ]);
  });

  it("keeps a revocation across a restart", async () => {
    const database = await freshDatabase();
    const adminToken = randomSeedToken();
    const first = await startTestServer({ database, env: { ENGINE_CLOUD_TOKEN: adminToken } });
    defer(() => first.stop());
    const { secret, token } = await first.admin().tokens.createToken({ label: "revoked", kind: TokenKind.SERVICE });
    await first.admin().tokens.revokeToken({ id: token!.id });
    await first.stop();

    const second = await startTestServer({ database, env: { ENGINE_CLOUD_TOKEN: adminToken } });
    defer(() => second.stop());
    const err = await createCloudClient({ baseUrl: second.url, token: secret })
      .auth.whoAmI({})
      .then(
        () => "accepted",
        (e: Error) => e.message,
      );
    expect(err).toContain("revoked");
  });
});
