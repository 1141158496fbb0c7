/**
 * People signing in: login throughput at the production password cost, and
 * what one account flooded with wrong passwords does to everyone else's calls,
 * measured in the same run. Prints plain tables; docs/BENCHMARKS.md ("People:
 * login") records a run and reads it.
 *
 *   npx tsx --conditions=source bench/login.bench.ts [--postgres URL] [flags]
 *
 * The server runs as its own process, as in production; the flood runs in a
 * third process (bench/login-flood.ts), so neither the attacker's event loop
 * nor the server's is the one timing the other tenants' calls. All of them
 * share this machine's CPUs. The flood comes from 127.0.0.1; during the flood
 * scenario other people sign in from another loopback address (127.0.0.2 by
 * default), as they would from their own networks. Windows without the flood, with it,
 * and with a control flood of empty calls rotate, so drift from other work on
 * the machine lands on all three; the control separates what answering any
 * flood costs from what the login path adds.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ClientSessionOptions } from "node:http2";
import { availableParallelism, loadavg } from "node:os";
import path from "node:path";
import { parseBenchFlags } from "./bench-flags.js";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Role, TokenKind } from "@engine-cloud/api";
import { errorReason, type CloudClient } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { createBenchDatabase, type BenchDatabase } from "./bench-database.js";
import { startFloodProcess } from "./flood-process.js";
import type { FloodCall, FloodResult } from "./login-flood.js";
import { assertNoErrors, percentile, runClosedLoop, type LoadRun } from "./load.js";
import { fmt } from "./print.js";
import { newServerSecrets, processCpuMs, REPO_ROOT, startServerProcess, type ServerSecrets } from "./server-process.js";

const USAGE = `usage: tsx --conditions=source bench/login.bench.ts [flags]
  --postgres URL          run on a fresh database on that PostgreSQL server (default: PGlite)
  --log-n LIST            scrypt costs (log2 N) to measure login throughput at, each on a fresh server;
                          the flood runs at the first (default 17,14; 17 is the production default)
  --threadpool N          UV_THREADPOOL_SIZE for the server (default: unset, libuv's 4)
  --concurrency LIST      logins in flight for the throughput table (default 1,2,4,8)
  --level-ms MS           time bound of one throughput level (default 10000)
  --level-logins N        count bound of one throughput level (default 200)
  --people N              people signing in, spread over the tenants (default 16)
  --tenants N             tenants besides the flooded account's own (default 4)
  --rounds N              flood scenario: rounds of three windows: no flood, the flood, the control flood
                          of GetServerInfo (default 3)
  --window-ms MS          length of each window (default 10000: 30 s of flood in all)
  --flood-concurrency N   wrong passwords in flight (default 32)
  --flood-accounts N      accounts the flood rotates over, fresh each round, in one tenant (default 1)
  --calls-concurrency N   other tenants' ListProjects in flight (default 8)
  --logins-concurrency N  other people's correct logins in flight (default 2)
  --others-address ADDR   the loopback address other people sign in from during the flood
                          (default 127.0.0.2; 127.0.0.1 puts them behind the flood's own address)`;

/** Caps each measuring loop; its time bound normally ends it first. */
const MAX_CALLS_PER_WINDOW = 2_000_000;

const options = {
  postgres: { type: "string" },
  "log-n": { type: "string", default: "17,14" },
  threadpool: { type: "string" },
  concurrency: { type: "string", default: "1,2,4,8" },
  "level-ms": { type: "string", default: "10000" },
  "level-logins": { type: "string", default: "200" },
  people: { type: "string", default: "16" },
  tenants: { type: "string", default: "4" },
  rounds: { type: "string", default: "3" },
  "window-ms": { type: "string", default: "10000" },
  "flood-concurrency": { type: "string", default: "32" },
  "flood-accounts": { type: "string", default: "1" },
  "calls-concurrency": { type: "string", default: "8" },
  "logins-concurrency": { type: "string", default: "2" },
  "others-address": { type: "string", default: "127.0.0.2" },
  help: { type: "boolean", default: false },
} as const;
const { flags, usageError, positiveInt, list } = parseBenchFlags(options, USAGE);
const int = (name: keyof typeof options) => positiveInt(name, flags[name] as string);

const logNs = list(flags["log-n"]!).map((n) => positiveInt("log-n", n));
if (logNs.some((n) => n < 14 || n > 20)) usageError("--log-n: the server accepts 14 to 20");
const threadpool = flags.threadpool === undefined ? undefined : positiveInt("threadpool", flags.threadpool);
const concurrencies = list(flags.concurrency!).map((c) => positiveInt("concurrency", c));
const config = {
  levelMs: int("level-ms"),
  levelLogins: int("level-logins"),
  people: int("people"),
  tenants: int("tenants"),
  rounds: int("rounds"),
  windowMs: int("window-ms"),
  floodConcurrency: int("flood-concurrency"),
  floodAccounts: int("flood-accounts"),
  callsConcurrency: int("calls-concurrency"),
  loginsConcurrency: int("logins-concurrency"),
};
// Each person has at most one login in flight (the server refuses a second one per account).
const mostInFlight = Math.max(...concurrencies, config.loginsConcurrency);
if (config.people < mostInFlight) usageError(`--people: at least ${mostInFlight}, one per login in flight`);

// ---------------------------------------------------------------------------
// The server process

interface LoginServer {
  url: string;
  pid: number;
  /** Resident set once the server first answered (VmHWM then), MiB: what the hashes add is measured against it. */
  startRssMib: number;
  /** The largest resident set the process has had so far (VmHWM), MiB; NaN without /proc. */
  peakRssMib(): number;
  stop(): Promise<void>;
}

/** The server process with the two settings this benchmark varies: the password cost and libuv's threadpool, where every scrypt runs. */
async function startLoginServer(o: {
  database: BenchDatabase;
  secrets: ServerSecrets;
  logN: number;
  threadpool?: number;
}): Promise<LoginServer> {
  const server = await startServerProcess({
    ...o.database,
    secrets: o.secrets,
    env: {
      ENGINE_CLOUD_PASSWORD_HASH_LOG_N: String(o.logN),
      ...(o.threadpool ? { UV_THREADPOOL_SIZE: String(o.threadpool) } : {}),
    },
  });
  const peakRssMib = () => statusKib(server.pid, "VmHWM") / 1024;
  return { ...server, startRssMib: peakRssMib(), peakRssMib };
}

function statusKib(pid: number, field: string): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) : NaN;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------
// Tenants and people, through the API

interface Person {
  email: string;
  password: string;
  tenant: string;
}

interface LoginWorld {
  /** People with correct passwords, spread over the tenants. */
  people: Person[];
  /** The flooded accounts (`floodAccounts` fresh ones per round), alone in a tenant of their own. */
  victims: Person[];
  /** One client per tenant other than the victims', with a tenant admin token of that tenant. */
  tenantAdmins: CloudClient[];
}

const VICTIM_TENANT = "login-victims";

/**
 * Every person is invited by the platform administrator acting in the tenant,
 * and accepts with a password of their own: one hash each, at the server's cost.
 */
async function setUpWorld(url: string, adminToken: string): Promise<LoginWorld> {
  const platform = (tenant?: string) => createCloudClient({ baseUrl: url, token: adminToken, tenant, httpVersion: "2" });
  const slugs = Array.from({ length: config.tenants }, (_, t) => `login-t${t}`);
  const tenantAdmins: CloudClient[] = [];
  for (const slug of [...slugs, VICTIM_TENANT]) {
    await platform().tenants.createTenant({ slug });
    if (slug === VICTIM_TENANT) continue;
    const { secret } = await platform(slug).tokens.createToken({ label: "bench-admin", kind: TokenKind.TENANT_ADMIN });
    const admin = createCloudClient({ baseUrl: url, token: secret, httpVersion: "2" });
    // A few rows, so ListProjects reads something.
    for (const name of ["web", "api", "worker"]) await admin.projects.allowProject({ name });
    tenantAdmins.push(admin);
  }
  const newPerson = (tenant: string): Person => ({
    email: `${randomBytes(6).toString("hex")}@${tenant}.example.com`,
    password: randomBytes(12).toString("base64url"),
    tenant,
  });
  const people = Array.from({ length: config.people }, (_, i) => newPerson(slugs[i % slugs.length]));
  const victims = Array.from({ length: config.rounds * config.floodAccounts }, () => newPerson(VICTIM_TENANT));
  const everyone = [...people, ...victims];
  const anonymous = createCloudClient({ baseUrl: url, httpVersion: "2" });
  const run = await runClosedLoop({ concurrency: 4, maxRequests: everyone.length, maxDurationMs: 300_000 }, async (i) => {
    const p = everyone[i];
    const { invitationCode } = await platform(p.tenant).users.inviteUser({ email: p.email, role: Role.VIEWER });
    await anonymous.users.acceptInvitation({ invitationCode, displayName: `Bench ${i}`, password: p.password });
  });
  assertNoErrors("invite and accept", [run]);
  if (run.latenciesMs.length !== everyone.length) throw new Error("setup: not everyone was invited before the time bound");
  return { people, victims, tenantAdmins };
}

// ---------------------------------------------------------------------------
// Measuring

type Bounds = Parameters<typeof runClosedLoop>[0];
type Call = (i: number, signal: AbortSignal) => Promise<unknown>;

/**
 * One kind of call measured over one or more windows. Answered and refused
 * calls are kept apart: a refusal is fast, and counting it as a login would
 * make a locked-out address look like a fast one.
 */
interface Stream {
  runs: LoadRun[];
  /** Latency of each call that succeeded. */
  okLatenciesMs: number[];
  refusals: Record<string, number>;
}
const newStream = (): Stream => ({ runs: [], okLatenciesMs: [], refusals: {} });

/** Successful calls per second over the stream's windows, and their latency. */
function succeeded(stream: Stream) {
  const seconds = stream.runs.reduce((n, r) => n + r.windowMs, 0) / 1000;
  const sorted = Float64Array.from(stream.okLatenciesMs).sort();
  return {
    count: sorted.length,
    perSecond: seconds > 0 ? sorted.length / seconds : 0,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

/** Runs a closed loop into a stream; refusals are counted by reason (during the flood they are a finding). */
async function measureInto(stream: Stream, bounds: Bounds, call: Call): Promise<void> {
  const run = await runClosedLoop(bounds, async (i, signal) => {
    const t0 = performance.now();
    try {
      await call(i, signal);
      stream.okLatenciesMs.push(performance.now() - t0);
    } catch (err) {
      const reason = errorReason(err);
      stream.refusals[reason] = (stream.refusals[reason] ?? 0) + 1;
      throw err;
    }
  });
  stream.runs.push(run);
}

/**
 * Correct logins, each person at most once in flight: the server refuses a second attempt on an account in flight.
 * `localAddress` is the address they come from (default 127.0.0.1).
 */
function correctLogins(url: string, people: Person[], localAddress?: string): Call {
  // http2.connect hands its options to net.connect, localAddress included; @types/node does not declare it there.
  const nodeOptions = { localAddress } as ClientSessionOptions;
  const client = createCloudClient({
    baseUrl: url,
    transport: createConnectTransport({ baseUrl: url, httpVersion: "2", nodeOptions }),
  });
  const idle = [...people];
  return async (_, signal) => {
    const p = idle.shift()!;
    try {
      await client.auth.login({ email: p.email, password: p.password, tenant: p.tenant }, { signal });
    } finally {
      idle.push(p);
    }
  };
}

/** Server CPU time (all its threads, the hashing pool included) over a span. */
async function withServerCpu<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; cpuMs: number; seconds: number }> {
  const cpu0 = processCpuMs(pid);
  const t0 = performance.now();
  const result = await work();
  return { result, cpuMs: processCpuMs(pid) - cpu0, seconds: (performance.now() - t0) / 1000 };
}

interface ThroughputRow {
  concurrency: number;
  logins: Stream;
  serverCpuMsPerLogin: number;
}

async function benchLoginThroughput(server: LoginServer, world: LoginWorld): Promise<ThroughputRow[]> {
  const login = correctLogins(server.url, world.people);
  // Unmeasured: the first logins pay for JIT and first database reads.
  await measureInto(newStream(), { concurrency: 2, maxRequests: 4, maxDurationMs: 30_000 }, login);
  const rows: ThroughputRow[] = [];
  for (const concurrency of concurrencies) {
    const logins = newStream();
    const { cpuMs } = await withServerCpu(server.pid, () =>
      measureInto(logins, { concurrency, maxRequests: config.levelLogins, maxDurationMs: config.levelMs }, login),
    );
    rows.push({ concurrency, logins, serverCpuMsPerLogin: cpuMs / Math.max(1, logins.runs[0].latenciesMs.length) });
  }
  return rows;
}

/** One window of the flood scenario, or several merged. */
interface FloodWindow {
  name: string;
  /** Other tenants' ListProjects. */
  calls: Stream;
  /** Other people's correct logins. */
  logins: Stream;
  /** GetServerInfo, one at a time: how long any call waits for the server's event loop. */
  probe: Stream;
  serverCpuMs: number;
  seconds: number;
  floods: FloodResult[];
}

async function measureWindow(server: LoginServer, world: LoginWorld, name: string, ms: number): Promise<FloodWindow> {
  const bounds = (concurrency: number): Bounds => ({ concurrency, maxRequests: MAX_CALLS_PER_WINDOW, maxDurationMs: ms });
  const w: FloodWindow = {
    name,
    calls: newStream(),
    logins: newStream(),
    probe: newStream(),
    serverCpuMs: 0,
    seconds: 0,
    floods: [],
  };
  const anonymous = createCloudClient({ baseUrl: server.url, httpVersion: "2" });
  const { cpuMs, seconds } = await withServerCpu(server.pid, () =>
    Promise.all([
      measureInto(w.calls, bounds(config.callsConcurrency), (i, signal) =>
        world.tenantAdmins[i % world.tenantAdmins.length].projects.listProjects({}, { signal }),
      ),
      measureInto(w.logins, bounds(config.loginsConcurrency), correctLogins(server.url, world.people, flags["others-address"])),
      measureInto(w.probe, bounds(1), (_, signal) => anonymous.server.getServerInfo({}, { signal })),
    ]),
  );
  return { ...w, serverCpuMs: cpuMs, seconds };
}

function mergeWindows(name: string, windows: FloodWindow[]): FloodWindow {
  const merge = (pick: (w: FloodWindow) => Stream): Stream => {
    const merged = newStream();
    for (const s of windows.map(pick)) {
      merged.runs.push(...s.runs);
      merged.okLatenciesMs.push(...s.okLatenciesMs);
      for (const [reason, n] of Object.entries(s.refusals)) merged.refusals[reason] = (merged.refusals[reason] ?? 0) + n;
    }
    return merged;
  };
  return {
    name,
    calls: merge((w) => w.calls),
    logins: merge((w) => w.logins),
    probe: merge((w) => w.probe),
    serverCpuMs: windows.reduce((n, w) => n + w.serverCpuMs, 0),
    seconds: windows.reduce((n, w) => n + w.seconds, 0),
    floods: windows.flatMap((w) => w.floods),
  };
}

/** Starts the flood of `call` against the victims (bench/flood-process.ts). */
function startFlood(url: string, call: FloodCall, victims: Person[], ms: number) {
  const flags = {
    url,
    emails: victims.map((v) => v.email).join(","),
    tenant: VICTIM_TENANT,
    concurrency: String(config.floodConcurrency),
    call,
  };
  return startFloodProcess(flags, ms);
}

const CONDITIONS = ["no flood", "flood", "control"] as const;
type Condition = (typeof CONDITIONS)[number];

interface FloodBench {
  /** Each window, in the order run, with its condition. */
  windows: Array<FloodWindow & { condition: Condition }>;
  /** The windows of each condition merged. */
  merged: Record<Condition, FloodWindow>;
}

/**
 * Each round has one window of each condition: no flood; the flood of wrong
 * passwords; the control, the same flood process sending GetServerInfo. Their
 * order rotates from round to round, so other work on the machine lands on
 * all of them alike. Each flood window targets fresh accounts, so every window
 * sees the throttle from its first strike.
 */
async function benchFlood(server: LoginServer, world: LoginWorld): Promise<FloodBench> {
  const windows: FloodBench["windows"] = [];
  for (let round = 0; round < config.rounds; round++) {
    for (let k = 0; k < CONDITIONS.length; k++) {
      const condition = CONDITIONS[(round + k) % CONDITIONS.length];
      const name = `${round + 1}: ${condition}`;
      if (condition === "no flood") {
        windows.push({ ...(await measureWindow(server, world, name, config.windowMs)), condition });
        continue;
      }
      const victims = world.victims.slice(round * config.floodAccounts, (round + 1) * config.floodAccounts);
      // The flood runs a second past the window, so the whole window is under it.
      const call = condition === "flood" ? "login" : "server-info";
      const { report } = await startFlood(server.url, call, victims, config.windowMs + 1000);
      const w = await measureWindow(server, world, name, config.windowMs);
      windows.push({ ...w, floods: [await report], condition });
    }
  }
  const merged = Object.fromEntries(
    CONDITIONS.map((c) => [
      c,
      mergeWindows(
        `all: ${c}`,
        windows.filter((w) => w.condition === c),
      ),
    ]),
  ) as Record<Condition, FloodWindow>;
  return { windows, merged };
}

// ---------------------------------------------------------------------------
// Printing

const refusalsText = (r: Record<string, number>) =>
  Object.keys(r).length
    ? Object.entries(r)
        .map(([reason, n]) => `${reason} ${n}`)
        .join(", ")
    : "none";

function printThroughput(logN: number, rows: ThroughputRow[], server: LoginServer, database: string): void {
  console.log(
    `\nlogin throughput · scrypt N=2^${logN}, r=8, p=1 (${2 ** logN / 1024} MiB per hash) · ` +
      `UV_THREADPOOL_SIZE ${threadpool ?? "unset (4)"} · ${database} · server peak RSS ${fmt(server.startRssMib, 0)} MiB ` +
      `at start, ${fmt(server.peakRssMib(), 0)} MiB after the table`,
  );
  console.log(
    `  ${"in flight".padEnd(10)}${"logins/s".padStart(10)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}` +
      `${"cpu ms/login".padStart(14)}${"logins".padStart(8)}  refused`,
  );
  for (const r of rows) {
    const s = succeeded(r.logins);
    console.log(
      `  ${String(r.concurrency).padEnd(10)}${fmt(s.perSecond, 2).padStart(10)}${fmt(s.p50Ms, 0).padStart(9)}${fmt(s.p99Ms, 0).padStart(9)}` +
        `${fmt(r.serverCpuMsPerLogin, 0).padStart(14)}${String(s.count).padStart(8)}  ${refusalsText(r.logins.refusals)}`,
    );
  }
}

function printFlood(logN: number, result: FloodBench): void {
  console.log(
    `\none account flooded with wrong passwords · scrypt N=2^${logN} · ${config.rounds} rounds, each ${config.windowMs / 1000} s ` +
      `without a flood, ${config.windowMs / 1000} s during the flood (${config.floodConcurrency} wrong passwords in flight, ` +
      `${config.floodAccounts} fresh account(s) per round), ${config.windowMs / 1000} s during the control (${config.floodConcurrency} ` +
      `GetServerInfo in flight) · measured: other tenants' ListProjects ${config.callsConcurrency} in flight, other people's ` +
      `logins ${config.loginsConcurrency} in flight, a GetServerInfo probe 1 in flight`,
  );
  console.log(
    `  ${"window".padEnd(16)}${"calls/s".padStart(8)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}  |` +
      `${"logins/s".padStart(9)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}${"n".padStart(5)}  |` +
      `${"probe p50".padStart(10)}${"p99".padStart(7)}  |${"srv cpu".padStart(8)}  refused`,
  );
  const row = (w: FloodWindow) => {
    const [c, l, p] = [succeeded(w.calls), succeeded(w.logins), succeeded(w.probe)];
    const refused = [
      ...Object.entries(w.calls.refusals).map(([r, n]) => `calls ${r} ${n}`),
      ...Object.entries(w.logins.refusals).map(([r, n]) => `logins ${r} ${n}`),
      ...Object.entries(w.probe.refusals).map(([r, n]) => `probe ${r} ${n}`),
    ];
    console.log(
      `  ${w.name.padEnd(16)}${fmt(c.perSecond, 0).padStart(8)}${fmt(c.p50Ms, 1).padStart(8)}${fmt(c.p99Ms, 1).padStart(8)}  |` +
        `${fmt(l.perSecond, 2).padStart(9)}${fmt(l.p50Ms, 0).padStart(8)}${fmt(l.p99Ms, 0).padStart(8)}${String(l.count).padStart(5)}  |` +
        `${fmt(p.p50Ms, 1).padStart(10)}${fmt(p.p99Ms, 1).padStart(7)}  |${`${fmt(w.serverCpuMs / w.seconds / 10, 0)}%`.padStart(8)}  ` +
        `${refused.join(", ") || "none"}`,
    );
  };
  for (const w of result.windows) row(w);
  for (const c of CONDITIONS) row(result.merged[c]);
  const floodLine = (label: string, floods: FloodResult[]) => {
    const reasons: Record<string, number> = {};
    for (const f of floods) for (const [r, n] of Object.entries(f.reasons)) reasons[r] = (reasons[r] ?? 0) + n;
    const answers = Object.values(reasons).reduce((a, b) => a + b, 0);
    const seconds = floods.reduce((n, f) => n + f.seconds, 0);
    const clientCpuMs = floods.reduce((n, f) => n + f.clientCpuMs, 0);
    console.log(
      `  ${label}: ${answers} answers in ${fmt(seconds, 1)} s (${fmt(answers / seconds, 0)}/s) · ${refusalsText(reasons)} · ` +
        `answer p50 ${floods.map((f) => fmt(f.p50Ms, 1)).join("/")} ms, p99 ${floods.map((f) => fmt(f.p99Ms, 1)).join("/")} ms · ` +
        `the flooding process used ${fmt(clientCpuMs / 10 / seconds, 0)}% of a core`,
    );
    return { reasons, answers };
  };
  const { reasons, answers } = floodLine("the flood", result.merged.flood.floods);
  floodLine("the control", result.merged.control.floods);
  const hashed = reasons.LOGIN_FAILED ?? 0;
  console.log(
    `  hashed (LOGIN_FAILED): ${hashed} of ${answers} flood answers (${fmt((100 * hashed) / Math.max(1, answers), 2)}%) · ` +
      `(127.0.0.1 may have 8 in flight; strikes against it count a burst in flight as one) · ` +
      `other people's logins refused during the flood: ${refusalsText(result.merged.flood.logins.refusals)}`,
  );
}

// ---------------------------------------------------------------------------

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const started = Date.now();
console.log(
  `engine-cloud login benchmark · node ${process.version} · ${availableParallelism()} cpus · ` +
    `${flags.postgres ? "postgres" : "pglite"} · load average ${load()}`,
);

for (const [i, logN] of logNs.entries()) {
  const database = await createBenchDatabase(flags.postgres);
  const secrets = newServerSecrets();
  let server: LoginServer | undefined;
  try {
    server = await startLoginServer({ database, secrets, logN, threadpool });
    const t0 = performance.now();
    const world = await setUpWorld(server.url, secrets.adminToken);
    console.log(
      `\nN=2^${logN}: ${config.tenants + 1} tenants and ${world.people.length + world.victims.length} people set up in ` +
        `${fmt((performance.now() - t0) / 1000, 1)} s (one hash per accepted invitation)`,
    );
    printThroughput(logN, await benchLoginThroughput(server, world), server, database.kind);
    // The flood at the production cost only: its question is what the throttle spares, not the hash.
    if (i === 0) printFlood(logN, await benchFlood(server, world));
  } finally {
    await server?.stop();
    await database.drop();
  }
}
console.log(`\nwhole run: ${fmt((Date.now() - started) / 1000, 0)} s · load average ${load()}`);
