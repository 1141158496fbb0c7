/**
 * Audit log cost: GetCredential against a server that audits and one with auditing switched off, in the same run,
 * interleaved, at 8 and 64 calls in flight; sync fan-out with and without stream auditing (Watch deliveries as
 * range events, sync/delivery-audit.ts); then `audit verify` speed over a generated chain: the CPU side alone,
 * `engine-cloud audit verify` from the database (through the server's export), from an export file, and the
 * export to that file (the database and server's share of the first).
 *
 *   npm run bench -- audit [--only reads,fanout,verify] [--seconds 5] [--rounds 3] [--streams 1000] [--trials 6]
 *                          [--events 1000000] [--postgres-url URL]
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CredentialType, TokenKind } from "@engine-cloud/api";
import { sql } from "kysely";
import { eventHash, GENESIS_HASH, verifyChain, type ChainedEvent, type ChainPoint } from "@engine-cloud/api/audit-chain.js";
import { createLogger, loadConfig, startServer, type RunningServer } from "@engine-cloud/server";
import { createBenchDatabase, type BenchDatabase } from "./bench-database.js";
import { parseBenchFlags } from "./bench-flags.js";
import { asBearer, benchClient } from "./auth-bench.js";
import { runClosedLoop, summarize, type LoadRun } from "./load.js";
import { fmt } from "./print.js";
import { auditEventRow } from "../packages/server/src/store/audit-log.js";
import { newServerSecrets, serverEnvironment } from "./server-process.js";
import { ClientFleet } from "./client-fleet.js";
import { wallClockMs } from "./fanout-client.js";

/** The installed CLI binary (packages/cli/bin/engine-cloud.js → dist/main.js; `npm run build` first). */
const CLI_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../packages/cli/bin/engine-cloud.js");

const USAGE =
  "npm run bench -- audit [--only reads,fanout,verify] [--seconds N] [--rounds N] [--streams N] [--trials N] [--events N] [--postgres-url URL]";
const { flags, positiveInt } = parseBenchFlags(
  {
    help: { type: "boolean" },
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    events: { type: "string", default: "1000000" },
    only: { type: "string", default: "reads,fanout,verify" },
    streams: { type: "string", default: "1000" },
    trials: { type: "string", default: "6" },
    "postgres-url": { type: "string" },
  },
  USAGE,
);
const seconds = positiveInt("seconds", flags.seconds);
const rounds = positiveInt("rounds", flags.rounds);
const eventCount = positiveInt("events", flags.events);
const streamCount = positiveInt("streams", flags.streams);
const trials = positiveInt("trials", flags.trials);
const only = new Set(flags.only.split(","));
console.log(
  `machine: ${availableParallelism()} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} at start`,
);

interface Side {
  name: string;
  server: RunningServer;
  database: BenchDatabase;
  token: string;
  credentialId: string;
}

async function startSide(name: string, audited: boolean, heartbeatMs?: number): Promise<Side> {
  const database = await createBenchDatabase(flags["postgres-url"]);
  const secrets = newServerSecrets();
  const config = loadConfig([], serverEnvironment({ ...database, secrets, listen: "127.0.0.1:0", logLevel: "warn" }));
  config.audit.enabled = audited;
  if (heartbeatMs) config.syncHeartbeatMs = heartbeatMs;
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

if (only.has("reads")) await readsTable();
if (only.has("fanout")) await fanoutTable();
if (only.has("verify")) await verifyTable();

async function readsTable() {
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
}

/** A chain of `count` events for `chain`, hashed as the writer hashes them. */
function generatedChain(chain: string, count: number): ChainedEvent[] {
  const events: ChainedEvent[] = [];
  let prev: ChainPoint = { seq: 0, hash: GENESIS_HASH };
  for (let seq = 1; seq <= count; seq++) {
    const body = {
      chain,
      seq,
      tenantId: chain,
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
  return events;
}

/**
 * Generates the chain, times the in-memory verification of it, and inserts it straight into `audit_events` with
 * its head set. In a function of its own so the million events it holds (1.6 GB) are garbage before the CLI is
 * timed: the server under test runs in this process, and would otherwise mark them at every major GC.
 */
async function loadGeneratedChain(db: RunningServer["app"]["storage"]["db"], chain: string) {
  const events = generatedChain(chain, eventCount);
  const t0 = performance.now();
  const broken = verifyChain(chain, events, { checkpoints: [events[events.length - 1]] });
  const cpuMs = performance.now() - t0;
  if (broken) throw new Error(`the generated chain did not verify: ${broken.problem}`);

  const loadStarted = performance.now();
  for (let i = 0; i < events.length; i += 2000) {
    await db
      .insertInto("audit_events")
      .values(events.slice(i, i + 2000).map(auditEventRow))
      .execute();
  }
  const last = events[events.length - 1];
  await db
    .insertInto("audit_heads")
    .values({ chain: last.chain, tenant_id: last.chain, seq: last.seq, hash: Buffer.from(last.hash) })
    .onConflict((oc) => oc.column("chain").doUpdateSet({ seq: last.seq, hash: Buffer.from(last.hash) }))
    .execute();
  // Statistics, as autovacuum keeps them on a chain that grew over time. The export no longer depends on them
  // (store/audit-log.ts chainExportPage bounds each page's range), but the plan with them is the usual one.
  await sql`ANALYZE audit_events`.execute(db);
  return { cpuMs, loadSeconds: (performance.now() - loadStarted) / 1000 };
}

/** Runs the CLI as a user does (the built binary); resolves with its wall time, throws on a non-zero exit. */
function timedCli(args: string[], env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, _stdout, stderr) =>
        err ? reject(new Error(`engine-cloud ${args.join(" ")}: ${stderr}`)) : resolve(performance.now() - t0),
    ),
  );
}

/**
 * `audit verify` over `eventCount` events: the CPU side alone (re-hash and link check of events in memory), then
 * the CLI against the server (the chain read from the database through ExportAuditEvents), then the CLI on an
 * export file, offline. The events are generated, inserted straight into one tenant's chain, and its head set.
 */
async function verifyTable() {
  const side = await startSide("audited", true);
  const dir = mkdtempSync(path.join(tmpdir(), "audit-bench-"));
  try {
    const admin = benchClient(side.server.url, "connect");
    const slug = `bench-verify-${randomBytes(3).toString("hex")}`;
    const { tenant } = await admin.tenants.createTenant({ slug }, asBearer(side.token));
    const { cpuMs, loadSeconds } = await loadGeneratedChain(side.server.app.storage.db, tenant!.id);

    const env = { ENGINE_CLOUD_URL: side.server.url, ENGINE_CLOUD_TOKEN: side.token, ENGINE_CLOUD_TENANT: slug };
    const fromDbMs = await timedCli(["audit", "verify", "--json"], env);
    const file = path.join(dir, "audit.jsonl");
    const exportMs = await timedCli(["audit", "export", "--output", file], env);
    const { publicKey } = await admin.audit.getAuditPublicKey({}, asBearer(side.token));
    const offline = { ENGINE_CLOUD_URL: "http://127.0.0.1:9", ENGINE_CLOUD_TOKEN: "", ENGINE_CLOUD_TENANT: "" };
    const fromFileMs = await timedCli(
      ["audit", "verify", "--file", file, "--public-key", Buffer.from(publicKey).toString("hex")],
      offline,
    );

    const rate = (ms: number) => `${fmt(eventCount / (ms / 1000), 0)} events/s (${fmt(ms / 1000)} s)`;
    console.log(
      `\naudit verify over ${eventCount} events, ${side.database.kind} (generated chain loaded in ${fmt(loadSeconds)} s)`,
    );
    console.log(`  CPU only (in memory):                 ${rate(cpuMs)}`);
    console.log(`  engine-cloud audit verify (database): ${rate(fromDbMs)}`);
    console.log(`  engine-cloud audit verify --file:     ${rate(fromFileMs)}`);
    console.log(`  engine-cloud audit export --output:   ${rate(exportMs)} (the database and server's side alone)`);
    console.log(
      `  load average at the end: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await side.server.stop();
    await side.database.drop();
  }
}

/**
 * Sync fan-out with and without stream auditing: `streamCount` Watch streams on each of two servers (one auditing,
 * one with auditing switched off), from client processes (bench/client-fleet.ts); `trials` puts each, alternating
 * between the servers, each timed from its acknowledgement to its arrival on every stream. The heartbeat is 1 s, so
 * the audited server writes every stream's range event (batched per tenant) between and during the trials.
 */
async function fanoutTable() {
  const HEARTBEAT_MS = 1000;
  const sides = [await startSide("audited", true, HEARTBEAT_MS), await startSide("audit off", false, HEARTBEAT_MS)];
  const fleets: ClientFleet[] = [];
  try {
    const latencies = new Map<string, number[][]>(sides.map((s) => [s.name, []]));
    const writers = new Map<string, () => Promise<number>>();
    for (const side of sides) {
      const client = benchClient(side.server.url, "connect");
      const tokens: string[] = [];
      for (let i = 0; i < 50; i++) {
        const { secret } = await client.tokens.createToken({ label: `fan-${i}`, kind: TokenKind.RUNTIME }, asBearer(side.token));
        tokens.push(secret);
      }
      const fleet = new ClientFleet(streamCount, 2, { project: "bench", openTimeoutMs: 60_000, collectTimeoutMs: 15_000 });
      fleets.push(fleet);
      const opened = await fleet.open(side.server.url, tokens, 0);
      if (opened.failed > 0) console.log(`  ${side.name}: ${opened.failed} streams failed to open (${opened.firstError})`);
      let version = 0;
      writers.set(side.name, async () => {
        const { credential } = await client.credentials.putCredential(
          {
            project: "bench",
            provider: "fanout",
            alias: "audit",
            type: CredentialType.API_KEY,
            keys: { api_key: { value: `v${++version}-${randomBytes(8).toString("hex")}` } },
          },
          asBearer(side.token),
        );
        return Number(credential!.revision);
      });
    }
    await new Promise((r) => setTimeout(r, 2000));
    for (let t = 0; t < trials; t++) {
      for (const side of t % 2 === 0 ? sides : [...sides].reverse()) {
        const fleet = fleets[sides.indexOf(side)];
        const revision = await writers.get(side.name)!();
        const committedAt = wallClockMs();
        const got = await fleet.collect(revision);
        latencies.get(side.name)!.push(got.times.map((at) => at - committedAt));
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
    console.log(
      `\nsync fan-out, ${sides[0].database.kind}, ${streamCount} streams per server, ${trials} changes each, heartbeat ${HEARTBEAT_MS} ms`,
    );
    console.log("side        p50 ms   p99 ms   max ms   (median of the trials' figures)");
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rows = sides.map((side) => {
      const runs = latencies.get(side.name)!.map((xs) => [...xs].sort((a, b) => a - b));
      return {
        side,
        p50: median(runs.map((r) => pct(r, 50))),
        p99: median(runs.map((r) => pct(r, 99))),
        max: median(runs.map((r) => r[r.length - 1])),
      };
    });
    for (const r of rows)
      console.log(`${r.side.name.padEnd(10)} ${fmt(r.p50).padStart(7)} ${fmt(r.p99).padStart(8)} ${fmt(r.max).padStart(8)}`);
    console.log(
      `audited/off p99: ${fmt(rows[0].p99 / rows[1].p99)}×; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
  } finally {
    for (const f of fleets) await f.close();
    for (const s of sides) {
      await s.server.stop();
      await s.database.drop();
    }
  }
}
