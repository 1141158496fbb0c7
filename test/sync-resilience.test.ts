import type { WatchResponse } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, type ServerProcess } from "./support/test-server.js";
import { clientOf, createTestTenant, putApiKey, type TestTenant } from "./support/test-tenant.js";
import {
  afterCaughtUp,
  changedId,
  changeOf,
  changesIn,
  describeEvents,
  isCaughtUp,
  isChange,
  recordWatch,
  type WatchRecorder,
} from "./support/watch-recorder.js";

// Servers as separate OS processes: what a deployment runs, and what kill -9 can hit.
// Restarting one takes seconds, hence the longer timeouts of the tests that do.
const RESTART_TEST_TIMEOUT_MS = 90_000;

const HEARTBEAT_MS = "200";
const REVOCATION_BOUND_MS = 1000;

const adminToken = randomSeedToken();
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

/** A server process on the shared database (on PGlite: its data directory, so one process at a time). */
const startServer = () =>
  spawnServerProcess({
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    DATABASE_URL: database.databaseUrl ?? "",
    ENGINE_CLOUD_SYNC_HEARTBEAT_MS: HEARTBEAT_MS,
    ENGINE_CLOUD_SHUTDOWN_GRACE_MS: "500",
  });

const address = (p: ServerProcess) => ({ url: p.url, adminToken });

const open: WatchRecorder[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

async function caughtUpWatch(client: CloudClient, sinceRevision = 0n): Promise<WatchRecorder> {
  const w = recordWatch(client, { project: "p1", sinceRevision });
  open.push(w);
  await w.until(isCaughtUp, 15_000);
  return w;
}

/** The platform admin of `server`, acting in the tenant. */
const adminOn = (server: ServerProcess, tenant: TestTenant) => clientOf(server, adminToken, { tenant: tenant.slug });

/** `count` puts of distinct credentials (so a catch-up can skip none of them), one after another. */
async function putMany(admin: CloudClient, label: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await putApiKey(admin, { project: "p1", provider: "resilience", alias: `${label}-${i}` }, `${label}-${i}`)).id);
  }
  return ids;
}

/** The tenant's current revision, as a Pull reports it. */
const revisionNow = async (admin: CloudClient) => Number((await admin.sync.pull({ project: "p1", sinceRevision: 0n })).revision);

/**
 * Checks that a stream's lives (the first after its catch-up, then each resumed one whole) together
 * delivered every revision after `start` exactly once, in order, and every credential put.
 */
function expectEveryChangeOnce(lives: WatchResponse[][], start: number, final: number, ids: string[]) {
  const changes = lives.flatMap((events) => changesIn(events));
  const shown = lives.map(describeEvents).join(" ‖ ");
  expect(
    changes.map((e) => Number(e.revision)),
    shown,
  ).toEqual(Array.from({ length: final - start }, (_, i) => start + 1 + i));
  expect(new Set(changes.map(changedId))).toEqual(new Set(ids));
}

describe.skipIf(!onPostgres)("two server processes on one PostgreSQL", () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let tenant: TestTenant;
  beforeAll(async () => {
    // Started together on the empty database: migrations and seeding run once, under the startup lock.
    [a, b] = await Promise.all([startServer(), startServer()]);
    tenant = await createTestTenant(address(a), { allow: ["p1"] });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("delivers a change written through one process to a stream held on the other", async () => {
    const { secret } = await tenant.token();
    const w = await caughtUpWatch(clientOf(b, secret));
    const [id] = await putMany(tenant.admin, "across", 1);
    await w.until(changeOf(id));
  });

  it("ends a stream held on one process within a second of its token being revoked through the other", async () => {
    const token = await tenant.token();
    const w = await caughtUpWatch(clientOf(b, token.secret));
    await tenant.admin.tokens.revokeToken({ id: token.id });
    const returned = performance.now();
    expect(await w.ended).toMatchObject({ codeName: "unauthenticated", reason: "TOKEN_REVOKED" });
    expect(w.endedAt! - returned).toBeLessThan(REVOCATION_BOUND_MS);
  });

  it(
    "after kill -9 of the process holding a stream, resumes on its restart with every change once, in order",
    async () => {
      const { secret } = await tenant.token();
      const first = await caughtUpWatch(clientOf(b, secret));
      const start = Number(first.events.find(isCaughtUp)!.revision);
      const beforeKill = await putMany(tenant.admin, "before-kill", 10);
      await first.until(changeOf(beforeKill[4]));
      // Writes go on through A while B dies and comes back.
      const writing = putMany(tenant.admin, "during-kill", 30);
      await b.kill9();
      await first.ended;
      b = await startServer();
      const during = await writing;
      const lastSeen = [...first.events].reverse().find(isChange)!.revision;
      const second = await caughtUpWatch(clientOf(b, secret), lastSeen);
      const afterRestart = await putMany(tenant.admin, "after-restart", 5);
      await second.until(changeOf(afterRestart[4]), 15_000);
      const final = await revisionNow(tenant.admin);
      const written = [...beforeKill, ...during, ...afterRestart];
      expectEveryChangeOnce([afterCaughtUp(first.events), second.events], start, final, written);
    },
    RESTART_TEST_TIMEOUT_MS,
  );
});

describe.skipIf(onPostgres)("the embedded server process", () => {
  let server: ServerProcess;
  let tenant: TestTenant;
  beforeAll(async () => {
    server = await startServer();
    tenant = await createTestTenant(address(server), { allow: ["p1"] });
  });
  afterAll(() => server?.stop());

  it(
    "after kill -9 and a restart on its data directory, resumes a stream with every change once, in order",
    async () => {
      const { secret } = await tenant.token();
      const first = await caughtUpWatch(clientOf(server, secret));
      const start = Number(first.events.find(isCaughtUp)!.revision);
      const beforeKill = await putMany(adminOn(server, tenant), "before-kill", 10);
      await first.until(changeOf(beforeKill[4]));
      await server.kill9();
      await first.ended;
      server = await startServer();
      const lastSeen = [...first.events].reverse().find(isChange)!.revision;
      const afterRestart = await putMany(adminOn(server, tenant), "after-restart", 10);
      const second = await caughtUpWatch(clientOf(server, secret), lastSeen);
      await second.until(changeOf(afterRestart[9]), 15_000);
      const final = await revisionNow(adminOn(server, tenant));
      expectEveryChangeOnce([afterCaughtUp(first.events), second.events], start, final, [...beforeKill, ...afterRestart]);
    },
    RESTART_TEST_TIMEOUT_MS,
  );
});
