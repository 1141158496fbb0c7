/**
 * A noisy neighbour: one tenant floods far past its request rate while
 * another tenant goes about its calls, on the same server. What the quiet
 * tenant sees (p99 of its calls) with the flood, against its figure without
 * it, is the point; a control flood from a tenant whose limits are set out of
 * reach shows what the same flood costs when nothing turns it away. Prints
 * plain tables; docs/BENCHMARKS.md ("Limits: a noisy tenant") records a run.
 *
 *   npx tsx --conditions=source bench/noisy-tenant.bench.ts [--postgres URL] [flags]
 *
 * The server runs as its own process; the flood runs in a third
 * (bench/login-flood.ts --call list-credentials), ignoring every retry hint, as a
 * runaway client would. Windows of the three conditions rotate, so drift from
 * other work on the machine lands on all of them. Figures, not assertions.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { parseBenchFlags } from "./bench-flags.js";

const USAGE = `usage: tsx --conditions=source bench/noisy-tenant.bench.ts [flags]
  --postgres URL          run on a fresh database on that PostgreSQL server (default: PGlite)
  --rounds N              rounds of three windows: no flood, the limited flood, the control flood (default 3)
  --window-ms MS          length of each window (default 8000)
  --noisy-rate N          the noisy tenant's tenant_requests_per_second (default 20)
  --flood-concurrency N   the flood's calls in flight (default 32)
  --quiet-concurrency N   the quiet tenant's calls in flight (default 4)`;

if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { createCloudClient } = await import("@engine-cloud/sdk/node");
const { CredentialType, TokenKind } = await import("@engine-cloud/api");
const { createBenchDatabase } = await import("./bench-database.js");
const { startFloodProcess } = await import("./flood-process.js");
const { assertNoErrors, runClosedLoop, summarize } = await import("./load.js");
const { fmt, percent } = await import("./print.js");
const { newServerSecrets, processCpuMs, startServerProcess } = await import("./server-process.js");
type FloodResult = import("./login-flood.js").FloodResult;
type LoadRun = import("./load.js").LoadRun;

const { flags, positiveInt } = parseBenchFlags(
  {
    postgres: { type: "string" },
    rounds: { type: "string", default: "3" },
    "window-ms": { type: "string", default: "8000" },
    "noisy-rate": { type: "string", default: "20" },
    "flood-concurrency": { type: "string", default: "32" },
    "quiet-concurrency": { type: "string", default: "4" },
    help: { type: "boolean" },
  },
  USAGE,
);
const config = {
  rounds: positiveInt("rounds", flags.rounds!),
  windowMs: positiveInt("window-ms", flags["window-ms"]!),
  noisyRate: positiveInt("noisy-rate", flags["noisy-rate"]!),
  floodConcurrency: positiveInt("flood-concurrency", flags["flood-concurrency"]!),
  quietConcurrency: positiveInt("quiet-concurrency", flags["quiet-concurrency"]!),
};
/** Caps each measuring loop; its time bound normally ends it first. */
const MAX_CALLS_PER_WINDOW = 2_000_000;
/** Out of reach for the control tenant: its flood is never turned away. */
const UNLIMITED = 1_000_000_000;

const database = await createBenchDatabase(flags.postgres);
const secrets = newServerSecrets();
const server = await startServerProcess({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, secrets });
try {
  const platform = (tenant?: string) =>
    createCloudClient({ baseUrl: server.url, token: secrets.adminToken, tenant, httpVersion: "2" });
  const runtimeToken = async (slug: string, overrides: Record<string, number>) => {
    await platform().tenants.createTenant({ slug });
    await platform().tenants.setTenantLimits({ tenant: slug, overrides });
    return (await platform(slug).tokens.createToken({ label: "bench", kind: TokenKind.RUNTIME })).secret;
  };
  const noisyToken = await runtimeToken("noisy", { tenantRequestsPerSecond: config.noisyRate });
  const controlToken = await runtimeToken("control", { tenantRequestsPerSecond: UNLIMITED, tokenRequestsPerSecond: UNLIMITED });
  const quietToken = await runtimeToken("quiet", {});
  const quiet = createCloudClient({ baseUrl: server.url, token: quietToken, httpVersion: "2" });
  for (const provider of ["a", "b", "c", "d", "e"]) {
    await quiet.credentials.putCredential({
      provider,
      type: CredentialType.API_KEY,
      keys: { api_key: { value: `bench-${provider}` } },
    });
  }
  // The quiet tenant's call: a listing, so each call reads the database.
  const quietCall = (_: number, signal: AbortSignal) => quiet.credentials.listCredentials({}, { signal });
  await runClosedLoop({ concurrency: config.quietConcurrency, maxRequests: 2000, maxDurationMs: 2000 }, quietCall); // warm-up

  const conditions = ["no flood", "limited flood", "control flood"] as const;
  const windows = new Map(conditions.map((c) => [c, { runs: [] as LoadRun[], floods: [] as FloodResult[] }]));
  for (let round = 0; round < config.rounds; round++) {
    for (const condition of conditions) {
      const token = condition === "limited flood" ? noisyToken : condition === "control flood" ? controlToken : undefined;
      const flood = token
        ? await startFloodProcess(
            { url: server.url, token, call: "list-credentials", concurrency: String(config.floodConcurrency) },
            config.windowMs + 1000,
          )
        : undefined;
      const cpu0 = processCpuMs(server.pid);
      const run = await runClosedLoop(
        { concurrency: config.quietConcurrency, maxRequests: MAX_CALLS_PER_WINDOW, maxDurationMs: config.windowMs },
        quietCall,
      );
      run.serverCpuMs = processCpuMs(server.pid) - cpu0;
      const w = windows.get(condition)!;
      w.runs.push(run);
      if (flood) w.floods.push(await flood.report);
    }
  }

  console.log(
    `\nnoisy tenant: ${database.kind}, ${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)}; ` +
      `${config.rounds} × ${config.windowMs / 1000} s per condition; quiet tenant: ListCredentials × ${config.quietConcurrency} in flight; ` +
      `flood: ListCredentials × ${config.floodConcurrency} in flight, noisy tenant limited to ${config.noisyRate}/s`,
  );
  const baseline = summarize(windows.get("no flood")!.runs);
  const rows = conditions.map((condition) => {
    const w = windows.get(condition)!;
    assertNoErrors(`quiet tenant (${condition})`, w.runs);
    const s = summarize(w.runs);
    const floodCalls = w.floods.reduce((n, f) => n + f.requests, 0);
    const floodSeconds = w.floods.reduce((n, f) => n + f.seconds, 0);
    const limited = w.floods.reduce((n, f) => n + (f.reasons.RATE_LIMITED ?? 0), 0);
    return [
      condition,
      fmt(s.requestsPerSecond, 0),
      fmt(s.p50Ms),
      fmt(s.p99Ms),
      condition === "no flood" ? "-" : percent(s.p99Ms / baseline.p99Ms - 1),
      fmt(s.serverCpuUsPerCall, 0),
      floodSeconds ? fmt(floodCalls / floodSeconds, 0) : "-",
      floodCalls ? percent(limited / floodCalls) : "-",
    ];
  });
  const headers = [
    "condition",
    "quiet calls/s",
    "quiet p50 ms",
    "quiet p99 ms",
    "p99 vs none",
    "server CPU µs/quiet call",
    "flood calls/s",
    "flood RATE_LIMITED",
  ];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [headers, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
} finally {
  await server.stop();
  await database.drop();
}
