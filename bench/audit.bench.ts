/**
 * Audit log cost: GetCredential against a server that audits and one with auditing switched off, in the same run,
 * interleaved, at 8 and 64 calls in flight; then `audit verify` speed over a generated chain.
 *
 *   npm run bench -- audit [--seconds 5] [--rounds 3] [--events 1000000] [--postgres-url URL]
 */
import { randomBytes } from "node:crypto";
import { CredentialType } from "@engine-cloud/api";
import { eventHash, GENESIS_HASH, verifyChain, type ChainedEvent, type ChainPoint } from "@engine-cloud/api/audit-chain.js";
import { createLogger, loadConfig, startServer, type RunningServer } from "@engine-cloud/server";
import { createBenchDatabase, type BenchDatabase } from "./bench-database.js";
import { parseBenchFlags } from "./bench-flags.js";
import { asBearer, benchClient } from "./auth-bench.js";
import { runClosedLoop, summarize, type LoadRun } from "./load.js";
import { fmt } from "./print.js";
import { newServerSecrets, serverEnvironment } from "./server-process.js";

const USAGE = "npm run bench -- audit [--seconds N] [--rounds N] [--events N] [--postgres-url URL]";
const { flags, positiveInt } = parseBenchFlags(
  {
    help: { type: "boolean" },
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    events: { type: "string", default: "1000000" },
    "postgres-url": { type: "string" },
  },
  USAGE,
);
const seconds = positiveInt("seconds", flags.seconds);
const rounds = positiveInt("rounds", flags.rounds);
const eventCount = positiveInt("events", flags.events);

interface Side {
  name: string;
  server: RunningServer;
  database: BenchDatabase;
  token: string;
  credentialId: string;
}

async function startSide(name: string, audited: boolean): Promise<Side> {
  const database = await createBenchDatabase(flags["postgres-url"]);
  const secrets = newServerSecrets();
  const config = loadConfig([], serverEnvironment({ ...database, secrets, listen: "127.0.0.1:0", logLevel: "warn" }));
  config.audit.enabled = audited;
  const server = await startServer(
    config,
    createLogger("warn", () => {}),
  );
  const client = benchClient(server.url, "connect");
  const { credential } = await client.credentials.putCredential(
    {
      provider: "bench",
      alias: "audit",
      type: CredentialType.API_KEY,
      keys: { api_key: { value: randomBytes(24).toString("hex") } },
    },
    asBearer(secrets.adminToken),
  );
  return { name, server, database, token: secrets.adminToken, credentialId: credential!.id };
}

async function readLoad(side: Side, concurrency: number): Promise<LoadRun> {
  const client = benchClient(side.server.url, "connect");
  return runClosedLoop({ concurrency, maxDurationMs: seconds * 1000, maxRequests: 10_000_000 }, (_i, signal) =>
    client.credentials.getCredential({ id: side.credentialId }, asBearer(side.token, signal)),
  );
}

const sides = [await startSide("audited", true), await startSide("audit off", false)];
try {
  console.log(`GetCredential, ${sides[0].database.kind}, ${rounds} interleaved rounds of ${seconds} s (one process)\n`);
  console.log("in flight  side        req/s     p50 ms   p99 ms   audited/off");
  for (const concurrency of [8, 64]) {
    const runs = new Map<string, LoadRun[]>(sides.map((s) => [s.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) runs.get(s.name)!.push(await readLoad(s, concurrency));
    }
    const [on, off] = sides.map((s) => summarize(runs.get(s.name)!));
    for (const [s, sum] of [
      [sides[0], on],
      [sides[1], off],
    ] as const) {
      const ratio =
        s === sides[0] ? `${fmt(on.requestsPerSecond / off.requestsPerSecond)}× tput, p99 ${fmt(on.p99Ms / off.p99Ms)}×` : "";
      console.log(
        `${String(concurrency).padStart(9)}  ${s.name.padEnd(10)} ${fmt(sum.requestsPerSecond, 0).padStart(7)}  ${fmt(sum.p50Ms).padStart(8)} ${fmt(sum.p99Ms).padStart(8)}   ${ratio}${sum.errors ? ` (${sum.errors} errors)` : ""}`,
      );
    }
  }
} finally {
  for (const s of sides) {
    await s.server.stop();
    await s.database.drop();
  }
}

// Verification: the CPU side of `audit verify` (re-hashing every event and checking every link), over a chain
// built here, as an export file or a database read hands it over.
const events: ChainedEvent[] = [];
let prev: ChainPoint = { seq: 0, hash: GENESIS_HASH };
for (let seq = 1; seq <= eventCount; seq++) {
  const body = {
    chain: "00000000-0000-4000-8000-000000000001",
    seq,
    tenantId: "00000000-0000-4000-8000-000000000001",
    at: new Date(1_780_000_000_000 + seq),
    actor: { kind: "token", id: "00000000-0000-4000-8000-0000000000aa", tokenKind: "runtime" },
    requestId: `req-${seq}`,
    peer: "127.0.0.1:50000",
    userAgent: "connect-es/2.1.0",
    action: "credential.read",
    target: "credential:00000000-0000-4000-8000-0000000000bb",
    outcome: "ok",
    detail: { project: "bench", provider: "bench", alias: "audit", version: 1 },
    prevHash: prev.hash,
  };
  const e = { ...body, hash: eventHash(body) };
  events.push(e);
  prev = e;
}
const t0 = performance.now();
const broken = verifyChain(events[0].chain, events, { checkpoints: [prev] });
const ms = performance.now() - t0;
if (broken) throw new Error(`the generated chain did not verify: ${broken.problem}`);
console.log(`\naudit verify (CPU): ${eventCount} events in ${fmt(ms / 1000)} s = ${fmt(eventCount / (ms / 1000), 0)} events/s`);
