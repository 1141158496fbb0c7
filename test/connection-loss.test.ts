import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describeCloudError, type CloudErrorDetails } from "@engine-cloud/sdk";
import {
  createCloudClient,
  createSyncProvider,
  type CloudClientOptions,
  type EngineSyncProvider,
  type SyncError,
} from "@engine-cloud/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { within } from "./support/provider-events.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, type ServerProcess } from "./support/test-server.js";
import { createTestTenant } from "./support/test-tenant.js";
import { isCaughtUp, recordWatch, type WatchRecorder } from "./support/watch-recorder.js";

/** Server processes take seconds to start (PGlite initialises its data directory): more than the default timeout when busy. */
const SPAWNED_SERVER_MS = 90_000;

const PROTOCOLS: Array<[string, Partial<CloudClientOptions>]> = [
  ["Connect over HTTP/1.1", { protocol: "connect", httpVersion: "1.1" }],
  ["Connect over HTTP/2", { protocol: "connect", httpVersion: "2" }],
  ["gRPC", { protocol: "grpc" }],
  ["gRPC-Web over HTTP/1.1", { protocol: "grpc-web", httpVersion: "1.1" }],
];

/** What each SDK call saw when the server process was killed under it. */
const streams = new Map<string, CloudErrorDetails | undefined>();
const unaries = new Map<string, CloudErrorDetails>();
let providerError: SyncError;
let providerStatus: ReturnType<EngineSyncProvider["status"]>;

describe("the SDK when the server is killed with SIGKILL under its calls", () => {
  let database: TestDatabase;
  let proc: ServerProcess;
  let dir: string;
  let provider: EngineSyncProvider | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "engine-connection-loss-"));
    database = await createTestDatabase();
    const adminToken = randomSeedToken();
    proc = await spawnServerProcess({
      ENGINE_CLOUD_DATA_DIR: database.dataDir,
      DATABASE_URL: database.databaseUrl ?? "",
      ENGINE_CLOUD_TOKEN: adminToken,
    });
    const tenant = await createTestTenant({ url: proc.url, adminToken }, { allow: ["p1"] });
    const { secret } = await tenant.token();
    const clients = PROTOCOLS.map(([name, options]) => ({
      name,
      client: createCloudClient({ baseUrl: proc.url, token: secret, ...options }),
    }));

    const watches: Array<[string, WatchRecorder]> = clients.map(({ name, client }) => [
      name,
      recordWatch(client, { project: "p1" }),
    ]);
    for (const [, w] of watches) await w.until(isCaughtUp);
    provider = createSyncProvider({
      baseUrl: proc.url,
      token: secret,
      project: "p1",
      cachePath: path.join(dir, "cache.bin"),
      cacheKey: randomBytes(32),
      env: {},
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await provider.start();
    await within(10_000, "the provider's first sync", provider.waitForSync());
    // Connections open and warm, so the unary calls below go out on them and wait there.
    for (const { client } of clients) await client.server.getServerInfo({});

    proc.child.kill("SIGSTOP");
    const calls = clients.map(({ name, client }) =>
      client.server.getServerInfo({}).then(
        () => unaries.set(name, { codeName: "ok" } as CloudErrorDetails),
        (err) => unaries.set(name, describeCloudError(err)),
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    // The first report after the kill is about the cut stream; later ones are refused reconnects.
    const p = provider;
    const reported = new Promise<SyncError>((resolve) => {
      const off = p.onError((e) => {
        off();
        providerStatus = p.status();
        resolve(e);
      });
    });
    await proc.kill9();
    await Promise.all(calls);
    for (const [name, w] of watches) streams.set(name, await w.ended);
    providerError = await within(10_000, "the provider's report of the lost server", reported);
  }, SPAWNED_SERVER_MS);

  afterAll(async () => {
    await provider?.close();
    await proc?.kill9();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(PROTOCOLS.map(([name]) => name))("reports a Watch stream cut off over %s as UNAVAILABLE", (name) => {
    expect(streams.get(name)?.codeName).toBe("unavailable");
  });

  it.each(PROTOCOLS.map(([name]) => name))("reports a unary call in flight over %s as UNAVAILABLE", (name) => {
    expect(unaries.get(name)?.codeName).toBe("unavailable");
  });

  it("reports the lost stream in the sync provider as unavailable, reason SERVER_UNAVAILABLE, and retryable", () => {
    expect(providerError).toMatchObject({ code: "unavailable", reason: "SERVER_UNAVAILABLE", fatal: false });
    expect(providerStatus.lastError).toMatchObject({ code: "unavailable", reason: "SERVER_UNAVAILABLE" });
    expect(providerStatus.state).not.toBe("connected");
  });
});
