import { createCloudClient, type CloudClientOptions } from "@engine-cloud/sdk/node";
import { describe, expect, it } from "vitest";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { openRawWatch, RAW_WATCH_PATHS } from "./support/raw-watch.js";
import { randomSeedToken, spawnServerProcess } from "./support/test-server.js";
import { createTestTenant } from "./support/test-tenant.js";
import { isCaughtUp, recordWatch } from "./support/watch-recorder.js";

const { defer, freshDatabase } = perTestCleanup();

/** Server processes take seconds to start (PGlite initialises its data directory): more than the default timeout when busy. */
const SPAWNED_SERVER_MS = 90_000;
/** Long, so that a stream still open when it runs out is plainly one the shutdown did not end. */
const GRACE_MS = 30_000;
/** Well within the grace period, with room for a busy machine. */
const PROMPTLY_MS = 8_000;

const SDK_STREAMS: Array<[string, Partial<CloudClientOptions>, { timeoutMs?: number }]> = [
  ["Connect over HTTP/1.1 (fast path)", { protocol: "connect", httpVersion: "1.1" }, {}],
  ["gRPC (fast path)", { protocol: "grpc" }, {}],
  ["gRPC-Web over HTTP/2 (fast path)", { protocol: "grpc-web", httpVersion: "2" }, {}],
  ["Connect with a deadline (generic path)", { protocol: "connect", httpVersion: "2" }, { timeoutMs: 120_000 }],
];

describe("SIGTERM with Watch streams open", () => {
  it(
    "ends every stream promptly with UNAVAILABLE and reason SERVER_SHUTTING_DOWN, then exits 0 long before the grace period",
    async () => {
      const database = await freshDatabase();
      const adminToken = randomSeedToken();
      const proc = await spawnServerProcess({
        ENGINE_CLOUD_DATA_DIR: database.dataDir,
        DATABASE_URL: database.databaseUrl ?? "",
        ENGINE_CLOUD_TOKEN: adminToken,
        ENGINE_CLOUD_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      });
      defer(() => proc.kill9());
      const tenant = await createTestTenant({ url: proc.url, adminToken }, { allow: ["p1"] });
      const { secret } = await tenant.token();

      const sdk = SDK_STREAMS.map(([name, options, call]) => ({
        name,
        watch: recordWatch(createCloudClient({ baseUrl: proc.url, token: secret, ...options }), { project: "p1" }, call),
      }));
      const raw = RAW_WATCH_PATHS.map((path) => {
        const watch = openRawWatch(proc.url, secret, path);
        watch.sendBody({ project: "p1" });
        return { name: `raw ${path}`, watch };
      });
      for (const { watch } of sdk) await watch.until(isCaughtUp);
      for (const { watch } of raw) await expect.poll(() => watch.messages, { timeout: 5000 }).toBeGreaterThanOrEqual(2);

      const exited = new Promise<number | null>((resolve) => proc.child.once("exit", resolve));
      const sent = performance.now();
      proc.child.kill("SIGTERM");
      const ends = await Promise.all([
        ...sdk.map(async ({ name, watch }) => {
          const e = await watch.ended;
          return { name, codeName: e?.codeName, reason: e?.reason, ms: performance.now() - sent };
        }),
        ...raw.map(async ({ name, watch }) => ({ name, ...(await watch.ended), ms: performance.now() - sent })),
      ]);
      for (const end of ends) {
        expect(end, end.name).toMatchObject({ codeName: "unavailable", reason: "SERVER_SHUTTING_DOWN" });
        expect(end.ms, end.name).toBeLessThan(PROMPTLY_MS);
      }
      expect(await exited).toBe(0);
      expect(performance.now() - sent).toBeLessThan(PROMPTLY_MS);
    },
    SPAWNED_SERVER_MS,
  );
});
