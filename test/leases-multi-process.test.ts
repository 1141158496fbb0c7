import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerPair, type ServerPair } from "./support/server-pair.js";
import { onPostgres } from "./support/test-database.js";
import { createTestTenant, putApiKey, uniqueSecret } from "./support/test-tenant.js";
import { randomSeedToken, type ServerProcess } from "./support/test-server.js";

// Two server processes on one PostgreSQL database run the tombstone purge
// (jobs/tombstone-purge.ts) under one lease: one of them at a time, the other
// taking over when the holder dies or stalls. Leases are short here so a
// takeover takes seconds; the purge sweeps every second.

const LEASE_MS = 1_000;
const adminToken = randomSeedToken();
let pair: ServerPair;
let watcher: pg.Client;

beforeAll(async () => {
  if (!onPostgres) return;
  pair = await startServerPair(adminToken, {
    ENGINE_CLOUD_JOB_LEASE_MS: String(LEASE_MS),
    ENGINE_CLOUD_TOMBSTONE_RETENTION_MS: "1000",
  });
  watcher = new pg.Client({ connectionString: pair.database.databaseUrl });
  await watcher.connect();
}, 120_000);
afterAll(async () => {
  await watcher?.end();
  await pair?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    const value = await probe();
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The purge's lease row as the database holds it. */
async function purgeLease(): Promise<{ holder: string | null; generation: number } | undefined> {
  const { rows } = await watcher.query(
    "SELECT holder, generation::integer AS generation FROM leases WHERE kind = 'job' AND key = 'tombstone-purge'",
  );
  return rows[0];
}

/** Lines of a process's log with this message (JSON lines, see log.ts). */
const linesOf = (proc: ServerProcess, msg: string) =>
  proc
    .output()
    .split("\n")
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The process whose log says it took the lease as `holder` under `generation`. */
function processHolding(holder: string, generation: number): ServerProcess | undefined {
  const took = (p: ServerProcess) =>
    linesOf(p, "took the job lease").some((l) => l.holder === holder && l.generation === generation);
  return [pair.a, pair.b].find(took);
}

/** A credential deleted through `proc`, whose tombstone is past the retention a second later. */
async function deletedCredential(proc: ServerProcess): Promise<string> {
  const tenant = await createTestTenant({ url: proc.url, adminToken }, { allow: ["p1"] });
  const stored = await putApiKey(tenant.admin, { project: "p1", provider: "doomed" }, uniqueSecret());
  await tenant.admin.credentials.deleteCredential({ id: stored.id });
  return stored.id;
}

const purged = (id: string) => async () =>
  (await watcher.query("SELECT 1 FROM tenant_changes WHERE resource_id = $1", [id])).rowCount === 0 ? true : undefined;

describe.skipIf(!onPostgres)("background jobs on two server processes (one PostgreSQL)", () => {
  let holder: ServerProcess;
  let other: ServerProcess;

  it("gives the tombstone purge's lease to one process, which keeps renewing it and alone purges", async () => {
    const first = await until(async () => {
      const row = await purgeLease();
      return row?.holder ? row : undefined;
    }, "a holder");
    holder = (await until(async () => processHolding(first.holder!, first.generation), "the holder's log line"))!;
    other = holder === pair.a ? pair.b : pair.a;

    // Three lease periods: the holder renews, and the other process never gets it.
    for (let i = 0; i < 12; i++) {
      expect(await purgeLease()).toEqual(first);
      await sleep(LEASE_MS / 4);
    }
    const ids = [await deletedCredential(pair.a), await deletedCredential(pair.b)];
    for (const id of ids) await until(purged(id), "the tombstones purged");
    expect(linesOf(other, "took the job lease")).toEqual([]);
    expect(linesOf(other, "purged credential tombstones")).toEqual([]);
    expect(linesOf(holder, "purged credential tombstones").length).toBeGreaterThan(0);
  }, 60_000);

  it("takes the lease from a holder frozen past its expiry, and the holder stands down when it wakes", async () => {
    const before = (await purgeLease())!;
    holder.child.kill("SIGSTOP");
    try {
      const taken = await until(async () => {
        const row = await purgeLease();
        return row && row.holder !== before.holder ? row : undefined;
      }, "a takeover");
      expect(taken.generation).toBe(before.generation + 1);
      expect(processHolding(taken.holder!, taken.generation)).toBe(other);
    } finally {
      holder.child.kill("SIGCONT");
    }
    const stoodDown = async () => (linesOf(holder, "lost the job lease").length > 0 ? true : undefined);
    await until(stoodDown, "the old holder standing down");
    // The woken process does not take it back: the new holder renews it.
    await sleep(2 * LEASE_MS);
    expect((await purgeLease())?.generation).toBe(before.generation + 1);
    [holder, other] = [other, holder];
  }, 60_000);

  it("takes the purge over after the holder is killed with SIGKILL, once its lease has expired", async () => {
    const before = (await purgeLease())!;
    await holder.kill9();
    const taken = await until(async () => {
      const row = await purgeLease();
      return row && row.holder !== before.holder ? row : undefined;
    }, "a takeover");
    expect(taken.generation).toBe(before.generation + 1);
    expect(processHolding(taken.holder!, taken.generation)).toBe(other);
    const purgedBefore = linesOf(other, "purged credential tombstones").length;
    await until(purged(await deletedCredential(other)), "the survivor purging");
    expect(linesOf(other, "purged credential tombstones").length).toBeGreaterThan(purgedBefore);
  }, 60_000);
});
