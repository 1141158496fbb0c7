import { TokenKind } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { assertNoErrors, runClosedLoop, summarize, type LoadRun, type LoadSummary } from "./load.js";
import { processCpuMs } from "./server-process.js";

/** The two protocols the foundation issue asks for; both run over HTTP/2 (h2c on loopback). */
export type BenchProtocol = "connect" | "grpc";

export interface ScenarioRow {
  name: string;
  summary: LoadSummary;
  /** Requests/s of this scenario divided by the empty RPC's, measured in the same rounds. */
  ratio: number;
  /**
   * The empty RPC's server CPU per call divided by this scenario's: the
   * throughput ratio a server that is the only bottleneck would reach.
   */
  cpuRatio: number;
}

/** Caps one round's request count; the round's time bound normally ends it first. */
const MAX_REQUESTS_PER_ROUND = 1_000_000;

/** One HTTP/2 connection per client, like the SDK in production; the credential travels per call. */
export function benchClient(url: string, protocol: BenchProtocol): CloudClient {
  return createCloudClient({ baseUrl: url, protocol, httpVersion: "2" });
}

/** Call options carrying a credential; the signal bounds the call (see load.ts). */
export function asBearer(token: string, signal?: AbortSignal) {
  return { headers: { authorization: `Bearer ${token}` }, signal };
}

type Call = (i: number, signal: AbortSignal) => Promise<unknown>;

interface Scenario {
  name: string;
  call: Call;
  /** Bounds of one round; the first scenario is the baseline the others are divided by. */
  maxRequests: number;
}

/**
 * Runs every scenario once per round, rotating the order each round (A B C,
 * B C A, C A B, …), so drift and noise from other work on the machine land on
 * all scenarios alike and their ratio holds even when absolute figures wander.
 */
async function interleave(
  scenarios: Scenario[],
  opts: { concurrency: number; rounds: number; roundMs: number; serverPid?: number },
): Promise<ScenarioRow[]> {
  const runs: LoadRun[][] = scenarios.map(() => []);
  const cpu = () => (opts.serverPid === undefined ? NaN : processCpuMs(opts.serverPid));
  for (let round = 0; round < opts.rounds; round++) {
    for (let k = 0; k < scenarios.length; k++) {
      const index = (round + k) % scenarios.length;
      const s = scenarios[index];
      const cpuBefore = cpu();
      const run = await runClosedLoop(
        { concurrency: opts.concurrency, maxRequests: s.maxRequests, maxDurationMs: opts.roundMs },
        s.call,
      );
      run.serverCpuMs = cpu() - cpuBefore;
      runs[index].push(run);
    }
  }
  scenarios.forEach((s, i) => assertNoErrors(s.name, runs[i]));
  const summaries = runs.map(summarize);
  return scenarios.map((s, i) => ({
    name: s.name,
    summary: summaries[i],
    ratio: summaries[i].requestsPerSecond / summaries[0].requestsPerSecond,
    cpuRatio: summaries[0].serverCpuUsPerCall / summaries[i].serverCpuUsPerCall,
  }));
}

/** Establishes the HTTP/2 session and lets V8 optimise the hot paths before anything is measured. */
async function warmUp(calls: Call[], concurrency: number, ms: number): Promise<void> {
  for (const call of calls) {
    const run = await runClosedLoop({ concurrency, maxRequests: MAX_REQUESTS_PER_ROUND, maxDurationMs: ms }, call);
    assertNoErrors("warm-up", [run]);
  }
}

export interface ThroughputOptions {
  url: string;
  /** The server's process id, to charge its CPU time to each scenario (Linux). */
  serverPid?: number;
  protocol: BenchProtocol;
  concurrency: number;
  rounds: number;
  roundMs: number;
  warmupMs: number;
}

/**
 * Warm token cache: one valid service token on every call. The empty RPC
 * carries the same header (its rule is public, so the server ignores it), so
 * the difference between rows is the server's work, not bytes on the wire.
 */
export async function benchWarmCache(opts: ThroughputOptions & { token: string }): Promise<ScenarioRow[]> {
  const client = benchClient(opts.url, opts.protocol);
  const auth = (signal: AbortSignal) => asBearer(opts.token, signal);
  const scenarios: Scenario[] = [
    {
      name: "empty: GetServerInfo",
      call: (_, signal) => client.server.getServerInfo({}, auth(signal)),
      maxRequests: MAX_REQUESTS_PER_ROUND,
    },
    { name: "auth: WhoAmI", call: (_, signal) => client.auth.whoAmI({}, auth(signal)), maxRequests: MAX_REQUESTS_PER_ROUND },
    {
      name: "auth+db: GetProject",
      call: (_, signal) => client.projects.getProject({ name: "bench" }, auth(signal)),
      maxRequests: MAX_REQUESTS_PER_ROUND,
    },
  ];
  await warmUp(
    scenarios.map((s) => s.call),
    opts.concurrency,
    opts.warmupMs,
  );
  return interleave(scenarios, opts);
}

/**
 * 100% cache misses: each of `tokens` was created for this run and is used on
 * exactly one call, so every authenticated call is the token's first and the
 * server must look it up in the database (its cache of 100k verdicts never
 * evicts at these counts, so a repeat would hit). The token budget bounds the
 * rounds: each round spends `tokens.length / (2 * rounds)` on each miss
 * scenario, and the empty RPC runs the same number of calls.
 */
export async function benchCacheMiss(opts: ThroughputOptions & { tokens: string[]; warmToken: string }): Promise<ScenarioRow[]> {
  const client = benchClient(opts.url, opts.protocol);
  const perRound = Math.floor(opts.tokens.length / (2 * opts.rounds));
  if (perRound < opts.concurrency) throw new Error(`cache-miss: ${opts.tokens.length} tokens are too few for the rounds`);
  const warm = (signal: AbortSignal) => asBearer(opts.warmToken, signal);
  // Hands out each token once, whichever scenario and round asks next.
  let next = 0;
  const fresh = (signal: AbortSignal) => {
    if (next >= opts.tokens.length) throw new Error("cache-miss: token budget spent");
    return asBearer(opts.tokens[next++], signal);
  };
  const scenarios: Scenario[] = [
    { name: "empty: GetServerInfo", call: (_, signal) => client.server.getServerInfo({}, warm(signal)), maxRequests: perRound },
    { name: "miss: WhoAmI", call: (_, signal) => client.auth.whoAmI({}, fresh(signal)), maxRequests: perRound },
    {
      name: "miss+db: GetProject",
      call: (_, signal) => client.projects.getProject({ name: "bench" }, fresh(signal)),
      maxRequests: perRound,
    },
  ];
  const warmGetProject: Call = (_, signal) => client.projects.getProject({ name: "bench" }, warm(signal));
  await warmUp([scenarios[0].call, warmGetProject], opts.concurrency, opts.warmupMs);
  // A round ends when its token share is spent; roundMs only guards against a stall.
  return interleave(scenarios, { ...opts, roundMs: Math.max(opts.roundMs, 30_000) });
}

/** Service tokens (projects.read, so GetProject is allowed), created through the API as the platform admin. */
export async function createServiceTokens(url: string, adminToken: string, count: number): Promise<string[]> {
  const admin = benchClient(url, "connect");
  const secrets: string[] = [];
  const run = await runClosedLoop({ concurrency: 16, maxRequests: count, maxDurationMs: 300_000 }, async (i, signal) => {
    const { secret } = await admin.tokens.createToken(
      { label: `bench-${i}`, kind: TokenKind.SERVICE },
      asBearer(adminToken, signal),
    );
    secrets.push(secret);
  });
  assertNoErrors("create tokens", [run]);
  if (secrets.length !== count) throw new Error(`created ${secrets.length} of ${count} tokens before the time bound`);
  return secrets;
}
