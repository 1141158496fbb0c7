import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLeasedJob, type LeasedJob, type LeasedJobContext } from "../packages/server/src/jobs/leased-job.js";
import { createLogger } from "../packages/server/src/log.js";
import {
  claimLease,
  commitUnderLease,
  LeaseLostError,
  releaseLease,
  renewLease,
  type LeaseKey,
} from "../packages/server/src/store/leases.js";
import { migrateToLatest } from "../packages/server/src/store/migrate.js";
import { openDatabase, type Storage } from "../packages/server/src/store/open-database.js";
import type { Database } from "../packages/server/src/store/schema.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";

// Leases through the Storage, on PGlite and PostgreSQL. On PostgreSQL the two
// holders use two pools of their own, as two server processes would; PGlite is
// one connection, so there they share it (the rules are the same, only the
// row lock's waiting cannot be shown).

let database: TestDatabase;
let first: Storage;
let second: Storage;
beforeAll(async () => {
  database = await createTestDatabase();
  first = await openDatabase(database);
  await migrateToLatest(first.db);
  second = onPostgres ? await openDatabase(database) : first;
  // Stands in for the work a job commits: a row per write, with who wrote it under which generation.
  await sql`CREATE TABLE lease_test_writes (lease text NOT NULL, holder text NOT NULL, generation bigint NOT NULL)`.execute(
    first.db,
  );
});
afterAll(async () => {
  if (second !== first) await second?.close();
  await first?.close();
  await database?.drop();
});

let counter = 0;
const freshLease = (): LeaseKey => ({ kind: "test", key: `lease-${++counter}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until the database's own clock has passed the lease's expiry. */
async function untilExpired(db: Kysely<Database>, lease: LeaseKey) {
  for (let i = 0; i < 200; i++) {
    const { rows } = await sql<{ expired: boolean }>`
      SELECT expires_at <= now() AS expired FROM leases WHERE kind = ${lease.kind} AND key = ${lease.key}`.execute(db);
    if (rows[0]?.expired) return;
    await sleep(50);
  }
  throw new Error("the lease did not expire");
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) if (await condition()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const writeAs = (lease: LeaseKey, holder: string, generation: number) => (tx: Kysely<Database>) =>
  sql`INSERT INTO lease_test_writes VALUES (${lease.key}, ${holder}, ${generation})`.execute(tx);

async function writesOf(lease: LeaseKey) {
  const { rows } = await sql<{ holder: string; generation: number }>`
    SELECT holder, generation::integer AS generation FROM lease_test_writes WHERE lease = ${lease.key}`.execute(first.db);
  return rows.map((r) => [r.holder, r.generation]);
}

describe("leases (store/leases.ts)", () => {
  it("grants a lease to one holder at a time, one generation higher on every claim", async () => {
    const lease = freshLease();
    const a = await claimLease(first.db, lease, "a", 60_000);
    expect(a?.generation).toBe(1);
    expect(await claimLease(second.db, lease, "b", 60_000)).toBeUndefined();
    expect(await claimLease(first.db, lease, "a", 60_000)).toBeUndefined();
    await releaseLease(first.db, a!);
    expect((await claimLease(second.db, lease, "b", 60_000))?.generation).toBe(2);
  });

  it("passes an expired lease to the next claimer by the database's clock, and refuses the old holder's renewal", async () => {
    const lease = freshLease();
    const a = (await claimLease(first.db, lease, "a", 300))!;
    expect(await renewLease(first.db, a, 300)).toBe(true);
    await untilExpired(second.db, lease);
    const b = await claimLease(second.db, lease, "b", 60_000);
    expect(b?.generation).toBe(a.generation + 1);
    expect(await renewLease(first.db, a, 60_000)).toBe(false);
    expect(await renewLease(second.db, b!, 60_000)).toBe(true);
  });

  it("refuses a stale holder's commit with LeaseLostError, and its write is absent", async () => {
    const lease = freshLease();
    const a = (await claimLease(first.db, lease, "a", 300))!;
    await untilExpired(second.db, lease);
    const b = (await claimLease(second.db, lease, "b", 60_000))!;

    const stale = commitUnderLease(first.db, a, writeAs(lease, "a", a.generation));
    await expect(stale).rejects.toBeInstanceOf(LeaseLostError);
    await commitUnderLease(second.db, b, writeAs(lease, "b", b.generation));
    expect(await writesOf(lease)).toEqual([["b", 2]]);
  });

  it("refuses the commit of an expired claim even when nobody has claimed the lease since", async () => {
    const lease = freshLease();
    const a = (await claimLease(first.db, lease, "a", 300))!;
    await untilExpired(second.db, lease);
    await expect(commitUnderLease(first.db, a, writeAs(lease, "a", a.generation))).rejects.toBeInstanceOf(LeaseLostError);
    expect(await writesOf(lease)).toEqual([]);
  });

  it.skipIf(!onPostgres)("holds a takeover off until the current holder's fenced commit has ended", async () => {
    const lease = freshLease();
    const a = (await claimLease(first.db, lease, "a", 300))!;
    let takeover: Promise<number | undefined> | undefined;
    let tookOverDuringCommit = false;
    await commitUnderLease(first.db, a, async (tx) => {
      await untilExpired(second.db, lease);
      takeover = claimLease(second.db, lease, "b", 60_000).then((c) => c?.generation);
      void takeover.then(() => (tookOverDuringCommit = true));
      await sleep(300);
      expect(tookOverDuringCommit).toBe(false);
      await writeAs(lease, "a", a.generation)(tx);
    });
    expect(await takeover).toBe(2);
    expect(await writesOf(lease)).toEqual([["a", 1]]);
  });
});

describe("leased jobs (jobs/leased-job.ts)", () => {
  const logs: string[] = [];
  const log = createLogger("debug", (line) => logs.push(line));
  const started: LeasedJob<unknown>[] = [];
  afterAll(() => Promise.all(started.map((j) => j.close())));

  /** A job named `name` as process `holder` runs it: each run commits one write under the lease. */
  function startAs(storage: Storage, name: string, holder: string, run?: (ctx: LeasedJobContext) => Promise<unknown>) {
    const job = startLeasedJob({
      db: storage.db,
      name,
      holder,
      intervalMs: 50,
      leaseMs: 2_000,
      log,
      run: run ?? ((ctx) => ctx.commitUnderLease(writeAs({ kind: "job", key: name }, holder, ctx.generation))),
    });
    started.push(job);
    return job;
  }

  it("runs a job on one holder at a time, and hands it over at once when the holder closes", async () => {
    const name = "one-at-a-time";
    const jobs = { a: startAs(first, name, "a"), b: startAs(second, name, "b") };
    await until(async () => (await writesOf({ kind: "job", key: name })).length >= 5, "five runs");
    const runs = await writesOf({ kind: "job", key: name });
    const holders = new Set(runs.map(([h]) => h));
    expect(holders.size).toBe(1);
    const [holder] = holders as Set<"a" | "b">;
    const other = holder === "a" ? "b" : "a";
    expect(new Set(runs.map(([, g]) => g))).toEqual(new Set([1]));

    await jobs[holder].close();
    // Released, not left to expire: the row no longer names the closed holder (free, or already the other's).
    const { rows } = await sql<{ holder: string | null }>`
      SELECT holder FROM leases WHERE kind = 'job' AND key = ${name}`.execute(first.db);
    expect(rows[0]?.holder).not.toBe(holder);
    await until(async () => (await writesOf({ kind: "job", key: name })).some(([h]) => h === other), "the other holder's run");
    const after = await writesOf({ kind: "job", key: name });
    expect(after.filter(([h]) => h === other).every(([, g]) => g === 2)).toBe(true);
  });

  it("logs a failing run instead of throwing, and runs again at the next interval", async () => {
    let calls = 0;
    startAs(first, "fails-once", "a", async (ctx) => {
      if (++calls === 1) throw new Error("the first run fails");
      await ctx.commitUnderLease(writeAs({ kind: "job", key: "fails-once" }, "a", ctx.generation));
    });
    await until(async () => (await writesOf({ kind: "job", key: "fails-once" })).length > 0, "a run after the failure");
    expect(logs.some((l) => l.includes('"background job failed; will retry"') && l.includes("the first run fails"))).toBe(true);
  });

  it("stops a run whose claim was taken over, without its write, and says so in the log", async () => {
    const name = "taken-over";
    const key = { kind: "job", key: name };
    let seen: LeasedJobContext | undefined;
    const job = startAs(first, name, "a", async (ctx) => {
      seen = ctx;
      // Another process claims the lease while this run is still working (its holder stalled past the expiry).
      await sql`UPDATE leases SET expires_at = now() WHERE kind = 'job' AND key = ${name}`.execute(second.db);
      await claimLease(second.db, key, "b", 60_000);
      await ctx.commitUnderLease(writeAs(key, "a", ctx.generation));
    });
    await until(() => seen !== undefined, "a run");
    const lostLogged = () => logs.some((l) => l.includes('"lost the job lease"') && l.includes(`"job":"${name}"`));
    await until(lostLogged, "the lost lease logged");
    await job.close();
    expect(seen!.signal.aborted).toBe(true);
    expect(await writesOf(key)).toEqual([]);
  });
});
