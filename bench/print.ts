/** The benchmark's output: plain-text tables for people. */
import type { ScenarioRow } from "./auth-bench.js";
import { summarizeLatencies, type RevocationResult } from "./revocation-latency.js";

export const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "∞");

export const percent = (ratio: number) => (Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)}%` : "-");

/**
 * "vs empty" divides requests/s measured in the same rounds; "cpu µs/call" is
 * the server process's CPU time per call and "cpu vs empty" its inverse ratio:
 * the throughput ratio if the server alone were the bottleneck.
 */
export function printTable(title: string, rows: ScenarioRow[]): void {
  console.log(`\n${title}`);
  console.log(
    `  ${"scenario".padEnd(22)}${"req/s".padStart(8)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"vs empty".padStart(10)}` +
      `${"cpu µs/call".padStart(13)}${"cpu vs empty".padStart(14)}${"calls".padStart(8)}`,
  );
  for (const r of rows) {
    const s = r.summary;
    console.log(
      `  ${r.name.padEnd(22)}${Math.round(s.requestsPerSecond).toString().padStart(8)}${fmt(s.p50Ms).padStart(9)}` +
        `${fmt(s.p99Ms).padStart(9)}${percent(r.ratio).padStart(10)}${fmt(s.serverCpuUsPerCall, 0).padStart(13)}` +
        `${percent(r.cpuRatio).padStart(14)}${s.requests.toString().padStart(8)}`,
    );
  }
}

/**
 * WhoAmI minus the empty RPC is what authentication costs the server per call;
 * GetProject's CPU less that cost estimates an unauthenticated GetProject.
 */
export function printAuthShare(rows: ScenarioRow[]): void {
  const [empty, whoAmI, getProject] = rows.map((r) => r.summary.serverCpuUsPerCall);
  const authUs = whoAmI - empty;
  if (!Number.isFinite(authUs)) return;
  console.log(
    `  auth adds ${fmt(authUs, 0)} µs of server CPU per call; GetProject authenticated / unauthenticated ` +
      `(server CPU, estimated): ${percent((getProject - authUs) / getProject)}`,
  );
}

export function printRevocation(r: RevocationResult, pollsInFlight: number): void {
  console.log(`\nrevocation visibility · ${r.trials} trials · ${pollsInFlight} polls in flight per process`);
  console.log("  ms after the RevokeToken response: first refusal answered (upper bound) | last acceptance sent (lower bound)");
  console.log(
    `  ${"process".padEnd(16)}${"p50".padStart(8)}${"p99".padStart(8)}${"max".padStart(8)}${"min".padStart(8)}  |` +
      `${"p50".padStart(8)}${"p99".padStart(8)}${"max".padStart(8)}`,
  );
  for (const key of ["committer", "other", "every"] as const) {
    const name = { committer: "committer (A)", other: "other (B)", every: "every process" }[key];
    const up = summarizeLatencies(r.latencyMs[key]);
    const low = summarizeLatencies(r.lowerBoundMs[key]);
    console.log(
      `  ${name.padEnd(16)}${fmt(up.p50).padStart(8)}${fmt(up.p99).padStart(8)}${fmt(up.max).padStart(8)}${fmt(up.min).padStart(8)}  |` +
        `${fmt(low.p50).padStart(8)}${fmt(low.p99).padStart(8)}${fmt(low.max).padStart(8)}`,
    );
  }
  const revoke = summarizeLatencies(r.revokeCallMs);
  console.log(`  RevokeToken call (the commit is inside it): p50 ${fmt(revoke.p50)} ms, p99 ${fmt(revoke.p99)} ms`);
  console.log(`  poll granularity: one answer per ${fmt(r.granularityMs, 3)} ms per process; trials timed out: ${r.timeouts}`);
}
