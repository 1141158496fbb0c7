/**
 * Credential write throughput and change notification, like for like: the
 * same credential write transaction, built from the server's own modules,
 * committed three ways in one run:
 *
 *   A  plain commit: no notification at all;
 *   B  the server's way: the same transaction, then feed.publish() after the
 *      commit (the change feed batches NOTIFY outside writer transactions);
 *   C  the anti-pattern, for reference: pg_notify() inside the transaction,
 *      which takes PostgreSQL's database-wide notify lock at commit.
 *
 * The target (sync issue): writes with change notification ≥ 90 % of plain
 * commits, i.e. B/A ≥ 0.9. Rounds are interleaved A, B, C, A, B, C… so load
 * from anything else on the machine falls on all three alike.
 *
 *   npx tsx --conditions=source bench/write-throughput.bench.ts [--postgres URL] [flags]
 *
 * With --postgres it creates its own database on that server (bench_w_<random>)
 * and drops it at the end; without, it runs on PGlite in a temporary
 * directory (one connection: concurrency there only queues). Loopback only;
 * every loop is bounded by time and count. Targets are printed, not asserted.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { bootstrap } from "../packages/server/src/bootstrap.js";
import { sealSecrets } from "../packages/server/src/crypto/credential-secrets.js";
import { createRootKeyRing } from "../packages/server/src/crypto/root-keys.js";
import { createTenantKeys } from "../packages/server/src/crypto/tenant-keys.js";
import { createLogger } from "../packages/server/src/log.js";
import { findLiveCredential, writeCredential } from "../packages/server/src/store/credentials.js";
import { nextTenantRevision } from "../packages/server/src/store/tenant-revisions.js";
import { migrateToLatest } from "../packages/server/src/store/migrate.js";
import { openDatabase } from "../packages/server/src/store/open-database.js";
import { insertTenant } from "../packages/server/src/store/tenants.js";
import { CHANGE_CHANNEL, createChangeFeed, type ChangeEvent } from "../packages/server/src/feed/change-feed.js";
import { systemScope, withTenant } from "../packages/server/src/store/with-tenant.js";
import { percentile, runClosedLoop, summarize, type LoadRun, type LoadSummary } from "./load.js";

const USAGE = `usage: npx tsx --conditions=source bench/write-throughput.bench.ts [flags]
  --postgres URL      run on PostgreSQL (a fresh database bench_w_<random> on that server, dropped after); default PGlite
  --concurrency LIST  writers in flight, closed loop (default 1,8,32)
  --tenants LIST      tenant layouts: writers spread over this many tenants (default 8,1)
  --workloads LIST    insert (a new credential per write), update (one of --credentials per tenant) (default insert,update)
  --credentials N     credentials per tenant in the update workload (default 64)
  --seconds N         length of one round (default 3)
  --rounds N          rounds of each mode per table row (default 3)`;

const { values: flags } = parseArgs({
  options: {
    postgres: { type: "string" },
    concurrency: { type: "string", default: "1,8,32" },
    tenants: { type: "string", default: "8,1" },
    workloads: { type: "string", default: "insert,update" },
    credentials: { type: "string", default: "64" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const usageError = (text: string): never => {
  console.error(`${text}\n\n${USAGE}`);
  process.exit(2);
};
const positiveInt = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) usageError(`--${name}: "${value}" is not a positive whole number`);
  return n;
};
const listOf = (name: string, value: string) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => positiveInt(name, s));
const concurrencies = listOf("concurrency", flags.concurrency!);
const tenantLayouts = listOf("tenants", flags.tenants!);
const workloads = flags
  .workloads!.split(",")
  .map((s) => s.trim())
  .filter(Boolean);
for (const w of workloads) if (w !== "insert" && w !== "update") usageError(`--workloads: "${w}" is neither insert nor update`);
const credentialsPerTenant = positiveInt("credentials", flags.credentials!);
const roundMs = positiveInt("seconds", flags.seconds!) * 1000;
const rounds = positiveInt("rounds", flags.rounds!);

/** One untimed round of each mode before a row: pool connections opened, plans cached, the tenant keys unwrapped. */
const WARM_UP_MS = 500;
/** Count bound of a round, far above what 3 s can reach: the time bound is the one that ends it. */
const MAX_WRITES_PER_ROUND = 1_000_000;
/** How long after a round the notifications of its writes may take to arrive before they count as missing. */
const DELIVERY_WAIT_MS = 5_000;
// One connection for each writer, plus the feed's batched NOTIFY and its 2 s heartbeat, so the feed
// never queues behind writers for a connection (nor they behind it). Its LISTEN connections are its own.
const POOL_HEADROOM = 2;

type Mode = "plain" | "feed" | "inside";
const MODES: Mode[] = ["plain", "feed", "inside"];
const MODE_LABEL: Record<Mode, string> = {
  plain: "A plain commit",
  feed: "B publish after commit",
  inside: "C NOTIFY inside tx",
};

/** Notifications heard on a LISTEN connection for the writes of B or C. */
interface Delivery {
  expected: number;
  heard: number;
  payloads: number;
}

interface Row {
  workload: string;
  tenants: number;
  concurrency: number;
  summary: Record<Mode, LoadSummary>;
  /** Per round, B/A and C/A of that round alone: how much the ratio moves with the machine. */
  roundRatios: { feed: number[]; inside: number[] };
  delivery: Record<"feed" | "inside", Delivery>;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

let stopping = false;
process.once("SIGINT", () => {
  stopping = true;
  console.error("\ninterrupted: finishing this round, then dropping the benchmark database");
});

// ——— the database ———

/** A database of the run's own: created on the given server and dropped after, or PGlite in a temporary directory. */
async function createWriteBenchDatabase(postgresUrl?: string) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-bench-w-"));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (!postgresUrl) return { kind: "pglite" as const, databaseUrl: undefined, dataDir, drop: async () => removeDir() };
  const name = `bench_w_${randomBytes(6).toString("hex")}`;
  const onServer = async (statement: string) => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    kind: "postgres" as const,
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      removeDir();
      await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

const database = await createWriteBenchDatabase(flags.postgres);
const log = createLogger("warn", (line) => process.stderr.write(line));
const storage = await openDatabase({
  databaseUrl: database.databaseUrl,
  dataDir: database.dataDir,
  poolSize: Math.max(...concurrencies) + POOL_HEADROOM,
}).catch(async (err: unknown) => {
  await database.drop();
  throw err;
});
const { db } = storage;
const started = Date.now();
/** Closed before the database goes: whatever of the feed and the notification counter was opened. */
const closers: (() => Promise<void>)[] = [];

try {
  await migrateToLatest(db);
  const ring = createRootKeyRing(randomBytes(32));
  await bootstrap(db, { rootKeys: ring }, log);
  const feed = await createChangeFeed(storage, log);
  closers.push(() => feed.close());
  const keys = createTenantKeys(db, ring, feed);

  const server = (
    await sql<{ version: string; sync: string; fsync: string }>`
      SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync,
             current_setting('fsync') AS fsync`.execute(db)
  ).rows[0];
  console.log(
    `engine-cloud credential write throughput · node ${process.version} · ${availableParallelism()} cpus · ` +
      `${database.kind} ${server.version} (synchronous_commit ${server.sync}, fsync ${server.fsync}) · load average ${load()}`,
  );
  console.log(
    `${rounds} rounds × ${roundMs / 1000} s per mode and row, interleaved A/B/C; pool ${Math.max(...concurrencies) + POOL_HEADROOM} connections` +
      (database.kind === "pglite" ? " (PGlite: one connection, writers queue on it)" : ""),
  );

  // Every notification is counted as it arrives on a LISTEN connection of its own, as a peer server would
  // hear it: proof that B and C really notified, and how many writes one NOTIFY of B carried.
  let heardEvents = 0;
  let heardPayloads = 0;
  const counter = await storage.subscribe(CHANGE_CHANNEL, {
    onPayload(payload) {
      const batch = JSON.parse(payload) as { e?: ChangeEvent[] };
      heardPayloads++;
      heardEvents += batch.e?.filter((e) => e.type === "credential").length ?? 0;
    },
    onConnected: () => {},
  });
  closers.unshift(() => counter.close());

  const tenantIds: string[] = [];
  const suffix = randomBytes(3).toString("hex");
  for (let i = 0; i < Math.max(...tenantLayouts); i++) {
    const t = await insertTenant(db, { slug: `bench-w-${suffix}-${i}`, displayName: `write bench ${i}` });
    tenantIds.push(t!.id);
  }

  /**
   * PutCredential's transaction minus its authorization check: the live row
   * by name (locked), the tenant's data key, the revision last (it holds the
   * tenant's revision row lock until commit), the sealed write. Mode C adds
   * the feed's own payload as a NOTIFY before commit; mode B publishes the
   * same event to the feed after commit, as the service does.
   */
  async function writeOnce(mode: Mode, tenantId: string, alias: string): Promise<void> {
    const name = { project: "", provider: "bench", alias };
    const revision = await withTenant(db, systemScope(tenantId, "system:bench"), async ({ tx }) => {
      const existing = await findLiveCredential(tx, tenantId, name, true);
      const id = existing?.id ?? randomUUID();
      const version = (existing?.version ?? 0) + 1;
      const dataKey = await keys.dataKey(tx, tenantId);
      const revision = await nextTenantRevision(tx, tenantId);
      await writeCredential(tx, tenantId, {
        ...name,
        id,
        type: "api_key",
        identity: {},
        metadata: {},
        scopes: [],
        keyInfo: { api_key: {} },
        sealedKeys: sealSecrets(dataKey, tenantId, id, version, { api_key: `sk-bench-${randomBytes(18).toString("hex")}` }),
        autoRefresh: false,
        version,
        revision,
        actor: "bench",
      });
      if (mode === "inside") {
        const event: ChangeEvent = { type: "credential", tenantId, revision };
        await sql`SELECT pg_notify(${CHANGE_CHANNEL}, ${JSON.stringify({ o: feed.instanceId, e: [event] })})`.execute(tx);
      }
      return revision;
    });
    if (mode === "feed") feed.publish({ type: "credential", tenantId, revision });
  }

  // The update workload's credentials, written once before any timing.
  if (workloads.includes("update")) {
    for (const tenantId of tenantIds) {
      for (let k = 0; k < credentialsPerTenant; k++) await writeOnce("plain", tenantId, `u${k}`);
    }
  }

  let inserted = 0;
  /** The next write of a row: round-robin over the layout's tenants; a fresh name, or the next of the tenant's K. */
  const writeFor = (workload: string, tenants: number) => (mode: Mode) => (i: number) => {
    const tenantId = tenantIds[i % tenants];
    const alias = workload === "insert" ? `i${inserted++}` : `u${Math.floor(i / tenants) % credentialsPerTenant}`;
    return writeOnce(mode, tenantId, alias);
  };

  /** Runs one round and waits (bounded) until every notification its writes caused was heard. */
  async function round(mode: Mode, concurrency: number, ms: number, call: (i: number) => Promise<void>) {
    heardEvents = 0;
    heardPayloads = 0;
    const run = await runClosedLoop({ concurrency, maxRequests: MAX_WRITES_PER_ROUND, maxDurationMs: ms }, (i) => call(i));
    const expected = mode === "plain" ? 0 : run.latenciesMs.length - run.errors;
    const deadline = performance.now() + DELIVERY_WAIT_MS;
    while (heardEvents < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return { run, delivery: { expected, heard: heardEvents, payloads: heardPayloads } };
  }

  const rows: Row[] = [];

  table: for (const workload of workloads) {
    for (const tenants of tenantLayouts) {
      for (const concurrency of concurrencies) {
        const write = writeFor(workload, tenants);
        for (const mode of MODES) await round(mode, concurrency, WARM_UP_MS, write(mode));
        const runs: Record<Mode, LoadRun[]> = { plain: [], feed: [], inside: [] };
        const delivery: Row["delivery"] = {
          feed: { expected: 0, heard: 0, payloads: 0 },
          inside: { expected: 0, heard: 0, payloads: 0 },
        };
        for (let r = 0; r < rounds && !stopping; r++) {
          for (const mode of MODES) {
            const got = await round(mode, concurrency, roundMs, write(mode));
            runs[mode].push(got.run);
            if (mode !== "plain") {
              delivery[mode].expected += got.delivery.expected;
              delivery[mode].heard += got.delivery.heard;
              delivery[mode].payloads += got.delivery.payloads;
            }
          }
        }
        if (runs.inside.length === 0) break table;
        const perSecond = (run: LoadRun) => (run.requests * 1000) / run.windowMs;
        const row: Row = {
          workload,
          tenants,
          concurrency,
          summary: { plain: summarize(runs.plain), feed: summarize(runs.feed), inside: summarize(runs.inside) },
          roundRatios: {
            feed: runs.feed.map((run, r) => perSecond(run) / perSecond(runs.plain[r])),
            inside: runs.inside.map((run, r) => perSecond(run) / perSecond(runs.plain[r])),
          },
          delivery,
        };
        rows.push(row);
        printRow(row, rows.length === 1);
        for (const mode of MODES) {
          const errors = runs[mode].find((run) => run.errors > 0);
          if (errors)
            console.log(
              `    ${MODE_LABEL[mode]}: ${row.summary[mode].errors} writes failed; first: ${String(errors.firstError)}`,
            );
        }
        if (stopping) break table;
      }
    }
  }

  console.log(`\ntarget: credential writes with change notification (B) ≥ 90 % of plain commits (A)`);
  for (const r of rows) {
    const ratio = r.summary.feed.requestsPerSecond / r.summary.plain.requestsPerSecond;
    const paired = quartiles(r.roundRatios.feed);
    // Both must clear 90 %: the pooled ratio alone is swayed by one noisy round, the median alone hides a steady loss.
    const met = ratio >= 0.9 && paired.median >= 0.9;
    console.log(
      `  ${met ? "met   " : "MISSED"}  ${r.workload}, ${r.tenants} tenant${r.tenants > 1 ? "s" : ""}, ${r.concurrency} in flight: ` +
        `B/A ${fmt(ratio * 100)} % pooled, ${fmt(paired.median * 100)} % median of rounds (IQR ${fmt(paired.q1 * 100, 0)}–${fmt(paired.q3 * 100, 0)} %); ` +
        `C/A ${fmt((r.summary.inside.requestsPerSecond / r.summary.plain.requestsPerSecond) * 100)} % pooled`,
    );
  }
} finally {
  // Listeners first: a LISTEN connection cut by the DROP would otherwise reconnect to a database that is gone.
  for (const close of closers) await close();
  await storage.close();
  await database.drop();
}
console.log(`\nwhole run: ${fmt((Date.now() - started) / 1000, 0)} s · load average now ${load()}`);
process.exit(0);

/**
 * Median and quartiles of the per-round ratios. Each round of B or C is
 * divided by the A round just before it, so noise slower than a round cancels
 * in the pair; the median keeps one disturbed pair from moving the figure.
 */
function quartiles(values: number[]): { q1: number; median: number; q3: number } {
  const s = Float64Array.from(values).sort();
  return { q1: percentile(s, 0.25), median: percentile(s, 0.5), q3: percentile(s, 0.75) };
}

function printRow(r: Row, header: boolean): void {
  if (header) {
    console.log(
      `\n  ${"workload".padEnd(9)}${"tenants".padStart(8)}${"in flight".padStart(10)}  ${"mode".padEnd(24)}` +
        `${"writes/s".padStart(10)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"vs A".padStart(8)}${"rounds: median (IQR)".padStart(22)}  notifications heard`,
    );
  }
  const a = r.summary.plain.requestsPerSecond;
  for (const mode of MODES) {
    const s = r.summary[mode];
    const q = mode === "plain" ? undefined : quartiles(r.roundRatios[mode]);
    const ratios = q ? `${fmt(q.median * 100, 0)} (${fmt(q.q1 * 100, 0)}–${fmt(q.q3 * 100, 0)})` : "";
    const d = mode === "plain" ? undefined : r.delivery[mode];
    const heard = d
      ? `${d.heard}/${d.expected} writes in ${d.payloads} NOTIFYs (${fmt(d.heard / Math.max(1, d.payloads), 1)} per NOTIFY)`
      : "";
    console.log(
      `  ${(mode === "plain" ? r.workload : "").padEnd(9)}${(mode === "plain" ? String(r.tenants) : "").padStart(8)}` +
        `${(mode === "plain" ? String(r.concurrency) : "").padStart(10)}  ${MODE_LABEL[mode].padEnd(24)}` +
        `${fmt(s.requestsPerSecond, 0).padStart(10)}${fmt(s.p50Ms, 2).padStart(9)}${fmt(s.p99Ms, 2).padStart(9)}` +
        `${(mode === "plain" ? "" : `${fmt((s.requestsPerSecond / a) * 100)}%`).padStart(8)}${ratios.padStart(22)}  ${heard}`,
    );
  }
}
