/**
 * The sync fan-out benchmark: how fast one committed credential change reaches
 * every watching runtime, what an idle stream costs the server, how long a
 * runtime far behind takes to catch up, how a fleet reconnects after a server
 * restart, and what the change feed costs writers. The floor (a bare
 * node:http2 server writing one pre-encoded event to every stream,
 * bench/floor-server.ts) and connect-node's stock streaming path run in the
 * same run, against the same client processes.
 *
 *   npx tsx --conditions=source bench/fanout.bench.ts [--postgres URL] [flags]
 *
 * Loopback only; every wait is bounded. 5,000 runtimes need 5,000 sockets in
 * the server process and as many across the clients: `ulimit -n` must be
 * above that (20,000 on the benchmark machine). Targets are printed, never
 * asserted: this is not a test.
 */
import { pickFreePort } from "./server-process.js";
import { fork, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import { availableParallelism, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const USAGE = `usage: tsx --conditions=source bench/fanout.bench.ts [flags]
  --postgres URL     run on PostgreSQL (a fresh database on that server, dropped after); default PGlite
  --only LIST        fanout,stock,floor,writes,catchup,storm (default: all)
  --sizes LIST       watching runtimes per fan-out table (default 1000,5000)
  --processes N      client processes the streams are split over (default 4)
  --trials N         changes timed per table (default 5)
  --tokens N         distinct runtime tokens the streams use, round-robin (default 500)
  --writes N         credential puts, and as many plain commits, in the write table (default 10000)
  --storm N          runtimes in the reconnect storm (default 5000)
  --source-addresses N  spread client connections over 127.0.0.2 … (for N beyond ~25,000 streams; default 1)
  --open-timeout-s N how long opening a table's streams may take (default 120)`;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HERE = path.dirname(fileURLToPath(import.meta.url));

// Workspace packages resolve to their TypeScript sources only under the "source" condition.
if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { createCloudClient } = await import("@engine-cloud/sdk/node");
const { CredentialType, TokenKind } = await import("@engine-cloud/api");
const { createBenchDatabase } = await import("./bench-database.js");
const { wallClockMs } = await import("./fanout-client.js");
const { BENCH_LIMITS } = await import("./server-process.js");
const { ClientFleet } = await import("./client-fleet.js");
type FloorReply = import("./floor-server.js").FloorReply;
const pg = (await import("pg")).default;

const { values: flags } = parseArgs({
  options: {
    postgres: { type: "string" },
    only: { type: "string", default: "fanout,stock,floor,writes,catchup,storm" },
    sizes: { type: "string", default: "1000,5000" },
    processes: { type: "string", default: "4" },
    trials: { type: "string", default: "5" },
    tokens: { type: "string", default: "500" },
    writes: { type: "string", default: "10000" },
    storm: { type: "string", default: "5000" },
    "source-addresses": { type: "string", default: "1" },
    "open-timeout-s": { type: "string", default: "120" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const positiveInt = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`--${name}: "${value}" is not a positive whole number\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const list = (v: string) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const only = new Set(list(flags.only!));
const sizes = list(flags.sizes!).map((s) => positiveInt("sizes", s));
const processes = positiveInt("processes", flags.processes!);
const trials = positiveInt("trials", flags.trials!);
const tokenCount = positiveInt("tokens", flags.tokens!);
const writeCount = positiveInt("writes", flags.writes!);
const stormSize = positiveInt("storm", flags.storm!);

const PROJECT = "bench";
const WRITES_PROJECT = "bench-writes";
const OPEN_TIMEOUT_MS = positiveInt("open-timeout-s", flags["open-timeout-s"]!) * 1000;
const COLLECT_TIMEOUT_MS = 15_000;
const sourceAddresses = positiveInt("source-addresses", flags["source-addresses"]!);
const FLEET_OPTIONS = {
  project: PROJECT,
  openTimeoutMs: OPEN_TIMEOUT_MS,
  collectTimeoutMs: COLLECT_TIMEOUT_MS,
  sourceAddresses: sourceAddresses > 1 ? sourceAddresses : undefined,
};
const SETTLE_MS = 3000;
// Long enough that no heartbeat lands inside a measurement.
const HEARTBEAT_MS = 600_000;
// A deadline sends a Watch down connect-node's stock path (the fast path leaves deadlines to it).
const STOCK_PATH_HEADERS = { "connect-timeout-ms": "3600000" };
// The runtimes of the storm retry as the SDK does (full jitter from 250 ms, doubling) but with the
// ceiling at 1 s instead of 30 s, so the whole herd lands within a second of the server answering:
// the server's worst case, and a figure the backoff schedule does not dominate.
const STORM_MAX_BACKOFF_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const verdicts: string[] = [];
const verdict = (ok: boolean, text: string) => verdicts.push(`${ok ? "met   " : "MISSED"}  ${text}`);

// ——— processes ———

/** Resident memory of a process in bytes, from /proc. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface SyncServer {
  url: string;
  pid: number;
  /** performance.now() when the process was spawned and when it first answered. */
  spawnedAt: number;
  readyAt: number;
  /** "sync catch-up" lines the server logged (at debug level: one per range query of a Watch). */
  catchUps(): number;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

async function startSyncServer(opts: {
  port: number;
  env: Record<string, string>;
  logLevel: "warn" | "debug";
}): Promise<SyncServer> {
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=source", path.join(REPO_ROOT, "packages/server/src/main.ts")],
    {
      cwd: REPO_ROOT,
      env: {
        ...pick(process.env, ["PATH", "HOME", "TMPDIR"]),
        ...BENCH_LIMITS,
        ...opts.env,
        ENGINE_CLOUD_LISTEN: `127.0.0.1:${opts.port}`,
        ENGINE_CLOUD_LOG_LEVEL: opts.logLevel,
        ENGINE_CLOUD_ALLOWED_PROJECTS: `${PROJECT},${WRITES_PROJECT}`,
        ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let catchUps = 0;
  let stderr = "";
  let tail = "";
  child.stdout!.on("data", (d: Buffer) => {
    const text = tail + d.toString();
    const lines = text.split("\n");
    tail = lines.pop()!;
    for (const line of lines) if (line.includes('"msg":"sync catch-up"')) catchUps++;
  });
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = once(child, "exit");
  const url = `http://127.0.0.1:${opts.port}`;
  const probe = createCloudClient({ baseUrl: url });
  const deadline = Date.now() + 60_000;
  let readyAt = NaN;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      await probe.server.getServerInfo({}, { timeoutMs: 1000 });
      readyAt = performance.now();
      break;
    } catch {
      await sleep(20);
    }
  }
  if (Number.isNaN(readyAt)) {
    child.kill("SIGKILL");
    throw new Error(`server did not start on ${url}:\n${stderr}`);
  }
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    pid: child.pid!,
    spawnedAt,
    readyAt,
    catchUps: () => catchUps,
    stop: () => stopWith("SIGTERM"),
    kill: () => stopWith("SIGKILL"),
  };
}

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (env[n] === undefined ? [] : [[n, env[n]!]])));
}

// ——— figures ———

interface Latency {
  p50: number;
  p99: number;
  max: number;
  n: number;
}
function summarize(values: number[]): Latency {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN);
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? NaN, n: s.length };
}

interface FanoutRow {
  path: string;
  n: number;
  /** Median-p99 trial's figures, and every trial's p99. */
  latency: Latency;
  p99s: number[];
  missing: number;
  bytesPerStream: number;
  openSeconds: number;
}

function printFanout(rows: FanoutRow[]): void {
  console.log(
    `\nfan-out: one committed change → every watching runtime (ms; one HTTP/2 connection per stream, ${processes} client processes)`,
  );
  console.log(
    `  ${"path".padEnd(22)}${"N".padStart(7)}${"p50".padStart(9)}${"p99".padStart(9)}${"max".padStart(9)}` +
      `${"p99 of each trial".padStart(34)}${"KB/stream".padStart(11)}${"open s".padStart(8)}`,
  );
  for (const r of rows) {
    console.log(
      `  ${r.path.padEnd(22)}${String(r.n).padStart(7)}${fmt(r.latency.p50).padStart(9)}${fmt(r.latency.p99).padStart(9)}` +
        `${fmt(r.latency.max).padStart(9)}${r.p99s
          .map((p) => fmt(p, 0))
          .join(" ")
          .padStart(34)}` +
        `${fmt(r.bytesPerStream / 1024).padStart(11)}${fmt(r.openSeconds).padStart(8)}` +
        (r.missing ? `  (${r.missing} stream-changes never arrived)` : ""),
    );
  }
}

/** Opens N streams, measures idle memory, then times `trials` changes; the table row uses the median-p99 trial. */
async function fanoutRun(opts: {
  path: string;
  n: number;
  url: string;
  pid: number;
  tokens: string[];
  headers?: Record<string, string>;
  /** Makes one change; returns its revision and the wall-clock ms of its commit. */
  change: () => Promise<{ revision: number; committedAt: number }>;
}): Promise<FanoutRow> {
  const baseline = rssOf(opts.pid);
  const fleet = new ClientFleet(opts.n, Math.min(processes, opts.n), FLEET_OPTIONS);
  try {
    const t0 = performance.now();
    const opened = await fleet.open(opts.url, opts.tokens, 0, opts.headers);
    const openSeconds = (performance.now() - t0) / 1000;
    if (opened.failed > 0)
      console.log(`  ${opts.path} N=${opts.n}: ${opened.failed} streams failed to open (${opened.firstError ?? "timeout"})`);
    await sleep(SETTLE_MS);
    const bytesPerStream = (rssOf(opts.pid) - baseline) / opened.caughtUp;
    const runs: Latency[] = [];
    let missing = 0;
    for (let t = 0; t < trials; t++) {
      const { revision, committedAt } = await opts.change();
      const got = await fleet.collect(revision);
      missing += got.missing;
      runs.push(summarize(got.times.map((at) => at - committedAt)));
      await sleep(300);
    }
    const byP99 = [...runs].sort((a, b) => a.p99 - b.p99);
    return {
      path: opts.path,
      n: opts.n,
      latency: byP99[Math.floor(byP99.length / 2)],
      p99s: runs.map((r) => r.p99),
      missing,
      bytesPerStream,
      openSeconds,
    };
  } finally {
    await fleet.close();
    await sleep(1000);
  }
}

/** Runs `call` `count` times with `concurrency` in flight, within `maxMs`; returns completed calls per second. */
async function throughput(count: number, concurrency: number, maxMs: number, call: (i: number) => Promise<unknown>) {
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: unknown;
  const started = performance.now();
  const deadline = started + maxMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < count && performance.now() < deadline) {
        const i = issued++;
        try {
          await call(i);
          done++;
        } catch (err) {
          errors++;
          firstError ??= err;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: done / seconds, done, errors, firstError, seconds };
}

// ——— the run ———

const started = Date.now();
const database = await createBenchDatabase(flags.postgres);
console.log(
  `engine-cloud sync fan-out benchmark · node ${process.version} · ${availableParallelism()} cpus · ${database.kind} · ` +
    `${processes} client processes · ulimit -n ${spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).stdout.trim()} · ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
);
const adminToken = randomBytes(32).toString("hex");
const serverEnv: Record<string, string> = {
  ENGINE_CLOUD_TOKEN: adminToken,
  ENGINE_CLOUD_DATA_DIR: database.dataDir,
  ENGINE_CLOUD_MASTER_KEY: randomBytes(32).toString("base64"),
  ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
};
const port = await pickFreePort();
let server = await startSyncServer({ port, env: serverEnv, logLevel: "warn" });
const admin = () => createCloudClient({ baseUrl: server.url, token: adminToken, httpVersion: "2" });
let client = admin();

try {
  console.log(`\nsetup: ${tokenCount} runtime tokens…`);
  const tokens: string[] = [];
  await throughput(tokenCount, 8, 120_000, async (i) => {
    const { secret } = await client.tokens.createToken({ label: `bench-runtime-${i}`, kind: TokenKind.RUNTIME });
    tokens.push(secret);
  });
  // Writes go through a tenant administrator's API token, the kind an operator's tooling uses.
  const { secret: writerToken } = await client.tokens.createToken({ label: "bench-writer", kind: TokenKind.TENANT_ADMIN });
  const writer = () => createCloudClient({ baseUrl: server.url, token: writerToken, httpVersion: "2" });
  let writes = writer();
  let version = 0;
  const putChange = async () => {
    version++;
    const { credential } = await writes.credentials.putCredential({
      project: PROJECT,
      provider: "openai",
      type: CredentialType.API_KEY,
      keys: { api_key: { value: `sk-bench-${String(version).padStart(6, "0")}-${randomBytes(18).toString("hex")}` } },
    });
    return { revision: Number(credential!.revision), committedAt: wallClockMs() };
  };
  await putChange(); // the snapshot every new stream receives
  const rows: FanoutRow[] = [];

  if (only.has("fanout") || only.has("stock")) {
    for (const n of sizes) {
      if (only.has("fanout")) {
        rows.push(
          await fanoutRun({ path: "engine-cloud fast path", n, url: server.url, pid: server.pid, tokens, change: putChange }),
        );
      }
      if (only.has("stock")) {
        rows.push(
          await fanoutRun({
            path: "connect-node stock",
            n,
            url: server.url,
            pid: server.pid,
            tokens,
            headers: STOCK_PATH_HEADERS,
            change: putChange,
          }),
        );
      }
    }
  }

  if (only.has("floor")) {
    const floor = fork(path.join(HERE, "floor-server.ts"), [], {
      execArgv: ["--import", "tsx", "--conditions=source"],
      stdio: "inherit",
    });
    try {
      const [listening] = (await once(floor, "message")) as [FloorReply];
      if (listening.type !== "listening") throw new Error("the floor server did not start");
      let revision = 1;
      const fire = async () => {
        revision++;
        floor.send({ type: "fire", revision });
        const [reply] = (await once(floor, "message")) as [FloorReply];
        return { revision, committedAt: reply.type === "fired" ? reply.at : NaN };
      };
      for (const n of sizes) {
        rows.push(
          await fanoutRun({
            path: "floor (node:http2)",
            n,
            url: `http://127.0.0.1:${listening.port}`,
            pid: floor.pid!,
            tokens,
            change: fire,
          }),
        );
      }
    } finally {
      floor.kill();
    }
  }

  if (rows.length > 0) {
    printFanout(rows);
    for (const n of sizes) {
      const fast = rows.find((r) => r.path.startsWith("engine-cloud") && r.n === n);
      const floor = rows.find((r) => r.path.startsWith("floor") && r.n === n);
      if (fast && floor) {
        const bound = n >= 5000 ? 1.5 : 2;
        verdict(
          fast.latency.p99 <= bound * floor.latency.p99,
          `fan-out p99 ≤ ${bound}× floor at N=${n}: ${fmt(fast.latency.p99)} ms vs floor ${fmt(floor.latency.p99)} ms (${fmt(fast.latency.p99 / floor.latency.p99, 2)}×)`,
        );
      }
      if (fast)
        verdict(
          fast.bytesPerStream <= 30 * 1024,
          `server memory ≤ 30 KB per idle stream at N=${n}: ${fmt(fast.bytesPerStream / 1024)} KB`,
        );
      if (fast && fast.missing > 0) verdict(false, `every stream received every change at N=${n}: ${fast.missing} missing`);
    }
  }

  let revisionBeforeWrites = 0;
  if (only.has("writes") || only.has("catchup")) {
    revisionBeforeWrites = Number((await client.sync.pull({ project: WRITES_PROJECT, sinceRevision: 0n })).revision);
    // Each put creates a credential, so a runtime that missed them all has writeCount changes to catch up.
    const puts = await throughput(writeCount, 16, 180_000, (i) =>
      writes.credentials.putCredential({
        project: WRITES_PROJECT,
        provider: "bench",
        alias: `w${i}`,
        type: CredentialType.API_KEY,
        keys: { api_key: { value: `sk-bench-${randomBytes(18).toString("hex")}` } },
      }),
    );
    console.log(`\ncredential writes · 16 in flight · ${database.kind}`);
    console.log(
      `  PutCredential with the change feed: ${Math.round(puts.perSecond)} puts/s (${puts.done} in ${fmt(puts.seconds)} s, ${puts.errors} errors)`,
    );
    if (puts.errors > 0) console.log(`  first error: ${String(puts.firstError)}`);
    if (only.has("writes") && database.databaseUrl) {
      const plain = await plainCommits(database.databaseUrl, writeCount);
      console.log(`  plain INSERT commits, ${plain.rowBytes} B rows, no notification: ${Math.round(plain.plain)} commits/s`);
      console.log(`  the same with NOTIFY inside each transaction: ${Math.round(plain.notifyInside)} commits/s`);
      verdict(
        puts.perSecond >= 0.9 * plain.plain,
        `writes with change notification ≥ 90% of plain commits: ${fmt((100 * puts.perSecond) / plain.plain)}%`,
      );
    } else if (only.has("writes")) {
      console.log("  plain commits: skipped (the server holds the PGlite database; pass --postgres URL)");
    }
  }

  if (only.has("catchup")) {
    const behind = createCloudClient({ baseUrl: server.url, token: tokens[0], httpVersion: "2" });
    const t0 = performance.now();
    let events = 0;
    let revision = 0n;
    for await (const e of behind.sync.watch(
      { project: WRITES_PROJECT, sinceRevision: BigInt(revisionBeforeWrites) },
      { signal: AbortSignal.timeout(120_000) },
    )) {
      if (e.event.case === "caughtUp") {
        revision = e.revision;
        break;
      }
      events++;
    }
    const ms = performance.now() - t0;
    console.log(`\ncatch-up · one runtime ${Number(revision) - revisionBeforeWrites} revisions behind (Connect, HTTP/2)`);
    console.log(`  ${events} changes and CAUGHT_UP in ${fmt(ms)} ms`);
  }

  if (only.has("storm")) {
    const fleet = new ClientFleet(stormSize, processes, FLEET_OPTIONS);
    try {
      const opened = await fleet.open(server.url, tokens, 0);
      const { revision: latest } = await putChange();
      const live = await fleet.collect(latest);
      console.log(
        `\nreconnect storm · ${stormSize} runtimes, SDK backoff with a ${STORM_MAX_BACKOFF_MS} ms ceiling · ` +
          `${opened.caughtUp} open, ${live.missing} missed the last change before the kill`,
      );
      // Each reconnects one change behind, as a runtime that had not stored the last change would.
      fleet.tell({ type: "reconnect", since: latest - 1, maxBackoffMs: STORM_MAX_BACKOFF_MS });
      const idxBefore = await credentialIndexScans();
      await server.kill();
      const killedAt = performance.now();
      server = await startSyncServer({ port, env: serverEnv, logLevel: "debug" });
      client = admin();
      writes = writer();
      const restartedAt = wallClockMs() - (performance.now() - server.spawnedAt);
      const answeringAt = restartedAt + (server.readyAt - server.spawnedAt);
      const back = await fleet.collect(latest, 60_000);
      const lastAt = Math.max(...back.times);
      const fromAnswering = summarize(back.times.map((t) => t - answeringAt));
      await server.stop(); // backends exit and flush their statistics
      const idxAfter = await credentialIndexScans();
      console.log(
        `  killed → restarted process answering: ${fmt(server.readyAt - killedAt, 0)} ms (spawn → answering ${fmt(server.readyAt - server.spawnedAt, 0)} ms)`,
      );
      console.log(
        `  server answering → every runtime at revision ${latest}: ${fmt(lastAt - answeringAt, 0)} ms (p50 ${fmt(fromAnswering.p50, 0)} ms, p99 ${fmt(fromAnswering.p99, 0)} ms); ${back.missing} not there after 60 s`,
      );
      console.log(
        `  process restart → every runtime there: ${fmt(lastAt - restartedAt, 0)} ms (includes the server's own start-up under tsx)`,
      );
      const perRuntime = server.catchUps() / stormSize;
      console.log(`  catch-up range queries: ${server.catchUps()} (${fmt(perRuntime, 2)} per runtime)`);
      if (idxAfter !== undefined && idxBefore !== undefined) {
        console.log(
          `  index scans on credentials and tenant_changes during the storm (pg_stat_user_tables): ${idxAfter - idxBefore}`,
        );
      }
      verdict(
        back.missing === 0 && lastAt - answeringAt <= 10_000,
        `${stormSize} runtimes at the latest revision within 10 s of the restarted server answering: ${fmt((lastAt - answeringAt) / 1000, 2)} s`,
      );
      verdict(perRuntime <= 1, `at most one range query per reconnecting runtime: ${fmt(perRuntime, 2)}`);
    } finally {
      await fleet.close();
    }
  }
} finally {
  await server.stop();
  await database.drop();
}

console.log(`\ntargets (${database.kind}):`);
for (const v of verdicts) console.log(`  ${v}`);
// Other work on the machine shares its two cores with the server and the clients: say how much there was.
console.log(
  `\nwhole run: ${fmt((Date.now() - started) / 1000, 0)} s · load average now ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
process.exit(0);

/** Index scans PostgreSQL counted on the credentials table and the change log so far (undefined on PGlite). */
async function credentialIndexScans(): Promise<number | undefined> {
  if (!database.databaseUrl) return undefined;
  const c = new pg.Client({ connectionString: database.databaseUrl });
  await c.connect();
  try {
    const r = await c.query(
      "SELECT sum(idx_scan) AS idx_scan FROM pg_stat_user_tables WHERE relname IN ('credentials', 'tenant_changes')",
    );
    return Number(r.rows[0]?.idx_scan ?? 0);
  } finally {
    await c.end();
  }
}

/**
 * The baseline of the write table: commits of rows as large as the stored
 * credentials, straight to PostgreSQL with 16 in flight, with no
 * notification; then the same with NOTIFY inside each transaction, which
 * serialises commits (it takes a database-wide lock at commit).
 */
async function plainCommits(url: string, count: number) {
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  try {
    const size = await pool.query("SELECT avg(pg_column_size(c.*))::int AS bytes FROM credentials c");
    const rowBytes = Number(size.rows[0].bytes);
    await pool.query("CREATE TABLE bench_plain_commits (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), payload bytea NOT NULL)");
    const payload = randomBytes(Math.max(1, rowBytes - 40));
    const plain = await throughput(count, 16, 120_000, () =>
      pool.query("INSERT INTO bench_plain_commits (payload) VALUES ($1)", [payload]),
    );
    const notifyInside = await throughput(count, 16, 120_000, async () => {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        await c.query("INSERT INTO bench_plain_commits (payload) VALUES ($1)", [payload]);
        await c.query("SELECT pg_notify('bench_plain_commits', 'x')");
        await c.query("COMMIT");
      } finally {
        c.release();
      }
    });
    return { rowBytes, plain: plain.perSecond, notifyInside: notifyInside.perSecond };
  } finally {
    await pool.end();
  }
}
