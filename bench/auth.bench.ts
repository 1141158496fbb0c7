/**
 * The authentication benchmark of the foundation issue: authenticated unary
 * calls against an empty RPC on the same server, in the same run. Prints plain
 * tables; docs/BENCHMARKS.md records a run and explains the method.
 *
 *   npx tsx --conditions=source bench/auth.bench.ts [--postgres URL] [flags]
 *
 * Targets are printed, never asserted: this is not a test.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseBenchFlags } from "./bench-flags.js";
import type { ScenarioRow } from "./auth-bench.js";

const USAGE = `usage: tsx --conditions=source bench/auth.bench.ts [flags]
  --postgres URL        also run on PostgreSQL: a fresh database is created on that server and dropped after;
                        without it the server uses PGlite (and the revocation scenario is skipped)
  --only LIST           scenarios, comma-separated: warm,miss,revocation,spray,verify,login (default: all;
                        login runs bench/login.bench.ts with its defaults, about 4 minutes)
  --protocols LIST      connect,grpc (default both; both over HTTP/2)
  --concurrency LIST    concurrent calls in flight (default 1,64)
  --rounds N            interleaved rounds per warm-cache table (default 6)
  --round-ms MS         length of one scenario's turn in a warm-cache round (default 500)
  --warmup-ms MS        unmeasured warm-up per scenario (default 500)
  --miss-rounds N       interleaved rounds per cache-miss table (default 3)
  --miss-tokens N       fresh tokens per cache-miss table (default 1800)
  --spray N             invalid-token requests (default 20000)
  --revocations N       revocation trials (default 100)
  --polls-in-flight N   concurrent polls per server during a revocation trial (default 4)
  --log-level LEVEL     the server's log level, warn (default) or info (one log line per call)
  --cpu-prof DIR        write a V8 CPU profile of the server process into DIR`;

// Workspace packages resolve to their TypeScript sources only under the "source"
// condition; started without it (`tsx bench/auth.bench.ts`), start again with it.
if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { createBenchDatabase } = await import("./bench-database.js");
const { startServerProcess, newServerSecrets } = await import("./server-process.js");
const { benchWarmCache, benchCacheMiss, createServiceTokens } = await import("./auth-bench.js");
const { benchInvalidTokenSpray } = await import("./invalid-token-spray.js");
const { startInProcessServer } = await import("./in-process-server.js");
const { measureVerifyCost } = await import("./verify-cost.js");
const { fmt, percent, printAuthShare, printRevocation, printTable } = await import("./print.js");
const { benchRevocationLatency, summarizeLatencies } = await import("./revocation-latency.js");

const options = {
  postgres: { type: "string" },
  only: { type: "string", default: "warm,miss,revocation,spray,verify,login" },
  protocols: { type: "string", default: "connect,grpc" },
  concurrency: { type: "string", default: "1,64" },
  rounds: { type: "string", default: "6" },
  "round-ms": { type: "string", default: "500" },
  "warmup-ms": { type: "string", default: "500" },
  "miss-rounds": { type: "string", default: "3" },
  "miss-tokens": { type: "string", default: "1800" },
  spray: { type: "string", default: "20000" },
  revocations: { type: "string", default: "100" },
  "polls-in-flight": { type: "string", default: "4" },
  "log-level": { type: "string", default: "warn" },
  "cpu-prof": { type: "string" },
  help: { type: "boolean", default: false },
} as const;
const { flags, usageError, positiveInt, list } = parseBenchFlags(options, USAGE);

const only = new Set(list(flags.only!));
const protocols = list(flags.protocols!) as Array<"connect" | "grpc">;
const concurrencies = list(flags.concurrency!).map((c) => positiveInt("concurrency", c));
const rounds = positiveInt("rounds", flags.rounds!);
const roundMs = positiveInt("round-ms", flags["round-ms"]!);
const warmupMs = positiveInt("warmup-ms", flags["warmup-ms"]!);
const missRounds = positiveInt("miss-rounds", flags["miss-rounds"]!);
const missTokens = positiveInt("miss-tokens", flags["miss-tokens"]!);
const sprayRequests = positiveInt("spray", flags.spray!);
const revocationTrials = positiveInt("revocations", flags.revocations!);
const pollsInFlight = positiveInt("polls-in-flight", flags["polls-in-flight"]!);
const logLevel = flags["log-level"] as "warn" | "info";
const unknownScenario = [...only].find((o) => !["warm", "miss", "revocation", "spray", "verify", "login"].includes(o));
if (unknownScenario) usageError(`--only: no scenario "${unknownScenario}"`);
if (protocols.some((p) => p !== "connect" && p !== "grpc")) usageError("--protocols: connect and/or grpc");
if (logLevel !== "warn" && logLevel !== "info") usageError("--log-level: warn or info");

/** Target checks collected along the way, printed together at the end. */
const verdicts: string[] = [];
const verdict = (ok: boolean, text: string) => verdicts.push(`${ok ? "met   " : "MISSED"}  ${text}`);
/** The throughput targets: each authenticated row against the empty RPC of its table. */
function ratioVerdicts(what: string, floor: number, rows: ScenarioRow[], where: string): void {
  for (const r of rows.slice(1)) {
    const measured = `${percent(r.ratio)} (server CPU ${percent(r.cpuRatio)})`;
    verdict(r.ratio >= floor, `${what} ≥ ${percent(floor)} of empty: ${r.name} ${measured} · ${where}`);
  }
}

// Other work on the machine moves absolute figures; the load average says how much there was.
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const started = Date.now();
console.log(
  `engine-cloud auth benchmark · node ${process.version} · ${availableParallelism()} cpus · ` +
    `${flags.postgres ? "postgres" : "pglite"} · server log level ${logLevel} · load average ${load()}`,
);

if (only.has("warm") || only.has("miss") || only.has("revocation")) {
  const database = await createBenchDatabase(flags.postgres);
  const secrets = newServerSecrets();
  const { adminToken } = secrets;
  const servers: Array<{ stop(): Promise<void> }> = [];
  try {
    const serverA = await startServerProcess({ ...database, secrets, logLevel, cpuProfileDir: flags["cpu-prof"] });
    servers.push(serverA);
    const [warmToken] = await createServiceTokens(serverA.url, adminToken, 1);
    const cells = protocols.flatMap((protocol) => concurrencies.map((concurrency) => ({ protocol, concurrency })));
    const label = (p: string, c: number) => `${p} (HTTP/2) · ${c} concurrent · ${database.kind}`;

    if (only.has("warm")) {
      for (const { protocol, concurrency } of cells) {
        const rows = await benchWarmCache({
          url: serverA.url,
          serverPid: serverA.pid,
          protocol,
          concurrency,
          rounds,
          roundMs,
          warmupMs,
          token: warmToken,
        });
        printTable(`warm token cache · ${label(protocol, concurrency)}`, rows);
        printAuthShare(rows);
        ratioVerdicts("warm cache", 0.9, rows, label(protocol, concurrency));
      }
    }

    if (only.has("miss")) {
      const t0 = performance.now();
      const tokens = await createServiceTokens(serverA.url, adminToken, missTokens * cells.length);
      const seconds = (performance.now() - t0) / 1000;
      console.log(`\ncreated ${tokens.length} service tokens for the cache-miss tables in ${fmt(seconds, 1)} s`);
      for (const [i, { protocol, concurrency }] of cells.entries()) {
        const rows = await benchCacheMiss({
          url: serverA.url,
          serverPid: serverA.pid,
          protocol,
          concurrency,
          rounds: missRounds,
          roundMs,
          warmupMs,
          warmToken,
          tokens: tokens.slice(i * missTokens, (i + 1) * missTokens),
        });
        printTable(`100% token cache misses · ${label(protocol, concurrency)}`, rows);
        ratioVerdicts("cache misses", 0.6, rows, label(protocol, concurrency));
      }
    }

    if (only.has("revocation")) {
      if (!database.databaseUrl) {
        console.log(
          "\nrevocation visibility: skipped (needs two server processes on one PostgreSQL database: pass --postgres URL)",
        );
      } else {
        const serverB = await startServerProcess({ ...database, secrets, logLevel });
        servers.push(serverB);
        const result = await benchRevocationLatency({
          committerUrl: serverA.url,
          otherUrl: serverB.url,
          adminToken,
          protocol: "connect",
          trials: revocationTrials,
          pollsInFlight,
        });
        printRevocation(result, pollsInFlight);
        const p99 = summarizeLatencies(result.latencyMs.every).p99;
        verdict(p99 <= 10, `revocation visible on every process p99 ≤ 10 ms: ${fmt(p99)} ms`);
      }
    }
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await database.drop();
  }
}

if (only.has("spray") || only.has("verify")) {
  const inProcessDatabase = await createBenchDatabase(flags.postgres);
  const target = await startInProcessServer(inProcessDatabase);
  try {
    if (only.has("spray")) {
      const r = await benchInvalidTokenSpray({
        target,
        protocol: "connect",
        requests: sprayRequests,
        concurrency: 16,
        maxDurationMs: 120_000,
      });
      console.log(`\ninvalid-token spray · server in this process · ${inProcessDatabase.kind}`);
      console.log(`  db lookups: ${r.lookups} for ${r.requests} invalid requests (bound: ${r.lookupBound})`);
      console.log(`  refusals: ${[...r.reasons].map(([reason, n]) => `${reason} ${n}`).join(", ")}`);
      console.log(
        `  ${Math.round(r.summary.requestsPerSecond)} req/s, p50 ${fmt(r.summary.p50Ms)} ms, p99 ${fmt(r.summary.p99Ms)} ms ` +
          "(client and server share one thread)",
      );
      verdict(
        r.lookups <= r.lookupBound && !r.reasons.has("ACCEPTED"),
        `invalid-token spray reaches the database a bounded number of times: ` +
          `${r.lookups} look-ups for ${r.requests} requests (bound ${r.lookupBound})`,
      );
    }
    if (only.has("verify")) {
      const c = await measureVerifyCost(target, { warmCalls: 200_000, coldCalls: 300 });
      console.log(`\nverify() alone · server in this process · ${inProcessDatabase.kind}`);
      console.log(`  warm (cached): ${fmt(c.warmUs)} µs per call over ${c.warmCalls} calls`);
      console.log(`  cold (database look-up), one at a time: ${fmt(c.coldUs)} µs per call over ${c.coldCalls} calls`);
    }
  } finally {
    await target.server.stop();
    await inProcessDatabase.drop();
  }
}

if (only.has("login")) {
  // People signing in: its own server processes (one per password cost) and its own tables.
  const loginBench = fileURLToPath(new URL("./login.bench.ts", import.meta.url));
  const login = spawnSync(
    process.execPath,
    ["--import", "tsx", "--conditions=source", loginBench, ...(flags.postgres ? ["--postgres", flags.postgres] : [])],
    { stdio: "inherit" },
  );
  if (login.status !== 0) console.log(`\nlogin benchmark: exited with ${login.status ?? login.signal}`);
}

console.log(`\ntargets (${flags.postgres ? "postgres" : "pglite"}):`);
for (const v of verdicts) console.log(`  ${v}`);
console.log(`\nwhole run: ${fmt((Date.now() - started) / 1000, 0)} s · load average ${load()}`);
