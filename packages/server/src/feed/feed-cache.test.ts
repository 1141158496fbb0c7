import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../log.js";
import { migrateToLatest } from "../store/migrate.js";
import { openDatabase, type Storage, type SubscribeHandlers } from "../store/open-database.js";
import { CHANGE_CHANNEL, createChangeFeed, type ChangeFeed } from "./change-feed.js";
import { createFeedCache, type FeedCache } from "./feed-cache.js";

// The cache under a real change feed on an embedded database. The one thing the test does in the feed's place is
// report its listen connection lost and back (`connection.onConnected`), as the storage does when it drops.
let dataDir: string;
let storage: Storage;
let feed: ChangeFeed;
let connection: SubscribeHandlers;
beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-feed-cache-"));
  storage = await openDatabase({ dataDir, embedded: { fsync: false, thread: "main" } });
  await migrateToLatest(storage.db);
  const subscribe: Storage["subscribe"] = (channel, handlers) => {
    if (channel === CHANGE_CHANNEL) connection = handlers;
    return storage.subscribe(channel, handlers);
  };
  feed = await createChangeFeed({ ...storage, subscribe }, createLogger("error"));
}, 60_000);
afterAll(async () => {
  await feed?.close();
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Tenant rows by id, as the loader reads them, with a count of reads and a way to hold one open. */
function tenantRows() {
  const rows = new Map<string, string>();
  const reads: string[] = [];
  let gate: Promise<void> | undefined;
  return {
    rows,
    reads,
    /** Holds every read started from now until `release` is called; reads see the rows as they are then. */
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    async load(key: string) {
      reads.push(key);
      const value = rows.get(key);
      if (gate) await gate;
      return value;
    },
  };
}

function tenantCache(table: ReturnType<typeof tenantRows>, maxEntries = 100): FeedCache<string> {
  const cache = createFeedCache<string>({
    feed,
    load: (key) => table.load(key),
    relevant: (e) => e.type === "tenant",
    affects: (e, key) => e.type === "tenant" && e.tenantId === key,
    maxEntries,
  });
  caches.push(cache);
  return cache;
}
const caches: FeedCache<string>[] = [];
afterAll(() => caches.forEach((c) => c.close()));

/** A tenant "acme" whose first read is still open when the feed announces that acme changed. */
function readHeldOverAChange() {
  const table = tenantRows();
  const a = randomUUID();
  table.rows.set(a, "acme");
  const cache = tenantCache(table);
  const release = table.hold();
  const before = cache.get(a);
  table.rows.set(a, "acme (suspended)");
  feed.publish({ type: "tenant", tenantId: a });
  return { table, cache, a, before, release };
}

describe("feed cache", () => {
  it("reads a row once and answers later gets from memory, a row that does not exist included", async () => {
    const table = tenantRows();
    const [a, missing] = [randomUUID(), randomUUID()];
    table.rows.set(a, "acme");
    const cache = tenantCache(table);
    for (let i = 0; i < 3; i++) {
      expect(await cache.get(a)).toBe("acme");
      expect(await cache.get(missing)).toBeUndefined();
    }
    expect(table.reads).toEqual([a, missing]);
  });

  it("reads a row again after the feed announces a change to it, and only that row", async () => {
    const table = tenantRows();
    const [a, b] = [randomUUID(), randomUUID()];
    table.rows.set(a, "acme").set(b, "beta");
    const cache = tenantCache(table);
    await cache.get(a);
    await cache.get(b);
    table.rows.set(a, "acme (suspended)");
    feed.publish({ type: "tenant", tenantId: a });
    expect(await cache.get(a)).toBe("acme (suspended)");
    expect(await cache.get(b)).toBe("beta");
    expect(table.reads).toEqual([a, b, a]);
  });

  it("ignores changes that are not relevant to it", async () => {
    const table = tenantRows();
    const a = randomUUID();
    table.rows.set(a, "acme");
    const cache = tenantCache(table);
    await cache.get(a);
    feed.publish({ type: "token", tenantId: a, tokenId: randomUUID() });
    await cache.get(a);
    expect(table.reads).toEqual([a]);
  });

  it("answers a read that started before a change with what it read, but does not cache it", async () => {
    const { table, cache, a, before, release } = readHeldOverAChange();
    release();
    expect(await before).toBe("acme");
    expect(await cache.get(a)).toBe("acme (suspended)");
    expect(table.reads).toEqual([a, a]);
  });

  it("does not hand a get after a change the read that started before it", async () => {
    const { cache, a, before, release } = readHeldOverAChange();
    const after = cache.get(a);
    release();
    expect(await before).toBe("acme");
    expect(await after).toBe("acme (suspended)");
  });

  it("shares one read among gets of the same key while no change comes between them", async () => {
    const table = tenantRows();
    const a = randomUUID();
    table.rows.set(a, "acme");
    const cache = tenantCache(table);
    const release = table.hold();
    const gets = [cache.get(a), cache.get(a), cache.get(a)];
    release();
    expect(await Promise.all(gets)).toEqual(["acme", "acme", "acme"]);
    expect(table.reads).toEqual([a]);
  });

  it("caches nothing while the feed is disconnected, drops everything on the way, and caches again once back", async () => {
    const table = tenantRows();
    const a = randomUUID();
    table.rows.set(a, "acme");
    const cache = tenantCache(table);
    await cache.get(a);
    try {
      connection.onConnected(false);
      await cache.get(a);
      await cache.get(a);
      expect(table.reads).toEqual([a, a, a]);
    } finally {
      connection.onConnected(true);
    }
    await cache.get(a);
    await cache.get(a);
    expect(table.reads).toEqual([a, a, a, a]);
  });

  it("does not cache a read that started before the feed came back: it may have missed a change", async () => {
    const table = tenantRows();
    const a = randomUUID();
    table.rows.set(a, "acme");
    const cache = tenantCache(table);
    connection.onConnected(false);
    const release = table.hold();
    const during = cache.get(a);
    connection.onConnected(true);
    release();
    await during;
    await cache.get(a);
    expect(table.reads).toEqual([a, a]);
  });

  it("holds at most maxEntries, dropping the oldest first", async () => {
    const table = tenantRows();
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const cache = tenantCache(table, 2);
    for (const key of [a, b, c, b, c, a]) await cache.get(key);
    expect(table.reads).toEqual([a, b, c, a]);
  });

  it("reads through the caller's own loader when given one, and caches what it read", async () => {
    const table = tenantRows();
    const a = randomUUID();
    const cache = tenantCache(table);
    expect(await cache.get(a, async () => "read in the caller's transaction")).toBe("read in the caller's transaction");
    expect(await cache.get(a)).toBe("read in the caller's transaction");
    expect(table.reads).toEqual([]);
  });
});
