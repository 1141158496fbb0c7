/**
 * Runtime presence writes at N connected runtimes: what the batched presence buffer costs the database, against writing on every heartbeat.
 *
 * The server's own buffer (sync/presence-buffer.ts, reached as app.presence of
 * an in-process server) holds N streams spread over a few tenants, exactly as
 * the Watch paths register them; each flush is timed as it writes them all
 * (one multi-row upsert per thousand). Printed per N: statements and rows per
 * flush, the flush's duration, and from those the database load at the
 * default flush interval (5 s) beside what one write per stream per heartbeat
 * (15 s) would be. Then one ListRuntimes-sized read of a tenant's page.
 *
 *   npx tsx --conditions=source bench/presence.bench.ts [--postgres URL] [--sizes 1000,5000] [--flushes 10]
 *
 * Loopback only; bounded loops. Figures are printed, never asserted.
 */
import { performance } from "node:perf_hooks";
import { availableParallelism, loadavg } from "node:os";
import { spawnSync } from "node:child_process";
import { parseBenchFlags } from "./bench-flags.js";

const USAGE = `usage: tsx --conditions=source bench/presence.bench.ts [flags]
  --postgres URL   run on PostgreSQL (a fresh database on that server, dropped after); default PGlite
  --sizes LIST     connected runtimes per table (default 1000,5000)
  --flushes N      flushes timed per size (default 10)
  --tenants N      tenants the runtimes are spread over (default 50)`;

if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { flags, positiveInt, list } = parseBenchFlags(
  {
    postgres: { type: "string" },
    sizes: { type: "string", default: "1000,5000" },
    flushes: { type: "string", default: "10" },
    tenants: { type: "string", default: "50" },
    help: { type: "boolean", default: false },
  },
  USAGE,
);
const sizes = list(flags.sizes!).map((s) => positiveInt("sizes", s));
const flushes = positiveInt("flushes", flags.flushes!);
const tenantCount = positiveInt("tenants", flags.tenants!);

const { createCloudClient } = await import("@engine-cloud/sdk/node");
const { createBenchDatabase } = await import("./bench-database.js");
const { startInProcessServer } = await import("./in-process-server.js");
const { listPresence } = await import("../packages/server/src/store/runtime-presence.js");
const { STALE_AFTER_FLUSHES } = await import("../packages/server/src/sync/presence-buffer.js");
type App = import("@engine-cloud/server").App;
type Target = Parameters<App["presence"]["opened"]>[1];

const DEFAULT_FLUSH_S = 5;
const HEARTBEAT_S = 15;

const database = await createBenchDatabase(flags.postgres);
// The buffer's own timer is pushed out of the way: every flush measured is one the bench starts.
const { server, secrets } = await startInProcessServer(database, { ENGINE_CLOUD_PRESENCE_FLUSH_MS: "60000" });
try {
  const platform = createCloudClient({ baseUrl: server.url, token: secrets.adminToken });
  const tenantIds: string[] = [];
  for (let i = 0; i < tenantCount; i++) {
    const { tenant } = await platform.tenants.createTenant({ slug: `presence-${i}` });
    tenantIds.push(tenant!.id);
  }
  const presence = server.app.presence;
  console.log(
    `\nruntime presence writes (${database.kind}, ${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)}; ` +
      `stale after ${STALE_AFTER_FLUSHES} flushes)`,
  );
  console.log(
    `  ${"N".padStart(6)}${"stmts/flush".padStart(13)}${"flush p50 ms".padStart(14)}${"flush max ms".padStart(14)}` +
      `${"rows/s @5s".padStart(12)}${"stmts/s @5s".padStart(13)}${"per-beat writes/s".padStart(19)}`,
  );
  const streams: { deliveredRevision: number }[] = [];
  for (const n of sizes) {
    while (streams.length < n) {
      const stream = { deliveredRevision: streams.length };
      const target: Target = {
        tenantId: tenantIds[streams.length % tenantIds.length],
        project: "app",
        view: undefined as unknown as Target["view"],
        principalId: "00000000-0000-4000-8000-000000000000",
        principalKind: "token",
        principalLabel: "bench",
        bearer: "",
        since: 0,
        runtimeId: `bench-${streams.length}`,
        runtimeInfo: { name: "bench", version: "1", host: "loopback", sdk: "bench", sdk_version: "1", language: "typescript" },
        origin: { actor: { kind: "system", job: "system:bench" }, request: { requestId: "", peer: "", userAgent: "" } },
      };
      presence.opened(stream, target);
      streams.push(stream);
    }
    await presence.flush(); // inserts; the timed flushes are the steady state (updates)
    const before = presence.stats.statements;
    const times: number[] = [];
    for (let i = 0; i < flushes; i++) {
      for (const s of streams) s.deliveredRevision++;
      const t0 = performance.now();
      await presence.flush();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const perFlush = (presence.stats.statements - before) / flushes;
    console.log(
      `  ${String(n).padStart(6)}${perFlush.toFixed(0).padStart(13)}${times[Math.floor(times.length / 2)].toFixed(1).padStart(14)}` +
        `${times[times.length - 1].toFixed(1).padStart(14)}${(n / DEFAULT_FLUSH_S).toFixed(0).padStart(12)}` +
        `${(perFlush / DEFAULT_FLUSH_S).toFixed(1).padStart(13)}${(n / HEARTBEAT_S).toFixed(0).padStart(19)}`,
    );
  }
  const t0 = performance.now();
  const page = await listPresence(server.app.storage.db, {
    tenantId: tenantIds[0],
    project: "",
    includeOffline: false,
    limit: 101,
  });
  console.log(
    `\n  one tenant's ListRuntimes page (${page.length} rows of ${streams.length}): ${(performance.now() - t0).toFixed(1)} ms`,
  );
} finally {
  await server.stop();
  await database.drop();
}
