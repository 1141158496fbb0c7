/**
 * The attacker of bench/login.bench.ts, in a process of its own so that its
 * event loop is not the one measuring other people's latency: a closed loop of
 * wrong passwords against a few accounts, ignoring every retry delay the
 * server asks for (as an attacker would). Bounded by count and time.
 *
 * `--call server-info` sends the public, empty GetServerInfo instead, at the
 * same concurrency: the control that tells what any flood of cheap calls
 * costs the others from what the login path adds to it. `--call
 * list-credentials --token T` lists credentials with a token: a runaway
 * runtime flooding its tenant's request rate (bench/noisy-tenant.bench.ts).
 *
 *   node --import tsx --conditions=source bench/login-flood.ts \
 *     --url URL --emails A[,B…] --tenant SLUG --concurrency N --ms MS [--call login|server-info|list-credentials] [--token T]
 *
 * Prints "ready" once the loop starts, then one JSON line (FloodResult).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { errorReason } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { percentile, runClosedLoop } from "./load.js";

export interface FloodResult {
  /** Answers received inside the time bound, and the window they came in. */
  requests: number;
  seconds: number;
  /** Answers by reason: LOGIN_THROTTLED (turned away before hashing), LOGIN_FAILED (hashed), … (OK for the control) */
  reasons: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  /** CPU time the flooding process itself used (ms). */
  clientCpuMs: number;
}

/** Caps the flood's calls; the time bound normally ends it long before. */
const MAX_FLOOD_CALLS = 5_000_000;

export type FloodCall = "login" | "server-info" | "list-credentials";
const FLOOD_CALLS: readonly string[] = ["login", "server-info", "list-credentials"] satisfies FloodCall[];

async function flood(o: {
  url: string;
  emails: string[];
  tenant: string;
  token?: string;
  concurrency: number;
  ms: number;
  call: FloodCall;
}): Promise<FloodResult> {
  const client = createCloudClient({ baseUrl: o.url, httpVersion: "2", token: o.token });
  const reasons: Record<string, number> = {};
  const wrongPassword = randomBytes(12).toString("base64url");
  const cpu0 = process.cpuUsage();
  console.log("ready");
  const run = await runClosedLoop(
    { concurrency: o.concurrency, maxRequests: MAX_FLOOD_CALLS, maxDurationMs: o.ms },
    async (i, signal) => {
      let reason = "OK";
      try {
        if (o.call === "server-info") await client.server.getServerInfo({}, { signal });
        else if (o.call === "list-credentials") await client.credentials.listCredentials({}, { signal });
        else
          await client.auth.login(
            { email: o.emails[i % o.emails.length], password: wrongPassword, tenant: o.tenant },
            { signal },
          );
      } catch (err) {
        reason = errorReason(err);
      }
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    },
  );
  const cpu = process.cpuUsage(cpu0);
  const sorted = Float64Array.from(run.latenciesMs).sort();
  return {
    requests: run.requests,
    seconds: run.windowMs / 1000,
    reasons,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    emails: { type: "string" },
    tenant: { type: "string", default: "" },
    concurrency: { type: "string", default: "32" },
    ms: { type: "string", default: "30000" },
    call: { type: "string", default: "login" },
    token: { type: "string" },
  },
});
if (!values.url || (values.call === "login" && !values.emails) || !FLOOD_CALLS.includes(values.call!)) {
  console.error(
    "usage: bench/login-flood.ts --url URL --emails A[,B…] [--tenant SLUG] [--token T] [--concurrency N] [--ms MS] [--call login|server-info|list-credentials]",
  );
  process.exit(2);
}
const result = await flood({
  url: values.url,
  emails: (values.emails ?? "").split(","),
  tenant: values.tenant!,
  token: values.token,
  concurrency: Number(values.concurrency),
  ms: Number(values.ms),
  call: values.call as FloodCall,
});
console.log(JSON.stringify(result));
// The HTTP/2 session would keep the process alive.
process.exit(0);
