import { TokenKind } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/test-database.js";
import { PATIENT_START, randomSeedToken, spawnServerProcess, type ServerProcess } from "../support/test-server.js";
import { clientOf, createTestTenant, putApiKey, type TestTenant } from "../support/test-tenant.js";
import { isChange } from "../support/watch-recorder.js";

// kill -9 of the server while writes are in flight, again and again: whatever
// the server acknowledged before it died is there after the restart (a put
// with its value, a delete still deleted, a token still accepted). A write in
// flight at the kill may or may not have landed; only acknowledged ones count.

/** Kills per database: each restart costs a few seconds. */
const KILLS = 3;
/** Writers in flight at once, so the kill lands between commits and amid them. */
const WRITERS = 4;
/** Acknowledged writes per life before the kill. */
const ACKS_BEFORE_KILL = 40;

interface Acknowledged {
  /** credential id → the secret value it was last acknowledged with. */
  puts: Map<string, string>;
  deleted: Set<string>;
  tokens: string[];
}

/**
 * Writes until the server dies: puts of new credentials, now and then a
 * delete of an acknowledged one or a new runtime token. Resolves once every
 * writer has stopped, when the `kill` promise has fired and every call after
 * it failed.
 */
async function writeUntilKilled(admin: CloudClient, life: number, acked: Acknowledged, kill: () => Promise<void>): Promise<void> {
  let count = 0;
  let dead = false;
  let killing: Promise<void> | undefined;
  const writer = async (w: number) => {
    for (let i = 0; !dead; i++) {
      const value = `kill-${life}-${w}-${i}`;
      try {
        if (i % 10 === 9) {
          const { secret } = await admin.tokens.createToken({ label: value, kind: TokenKind.RUNTIME, projects: [] });
          acked.tokens.push(secret);
        } else if (i % 5 === 4 && acked.puts.size > 0) {
          const [id] = acked.puts.keys();
          await admin.credentials.deleteCredential({ id });
          acked.puts.delete(id);
          acked.deleted.add(id);
        } else {
          const stored = await putApiKey(admin, { project: "p1", provider: "kill", alias: value }, value);
          acked.puts.set(stored.id, value);
        }
      } catch {
        if (killing) dead = true;
        continue;
      }
      if (++count === ACKS_BEFORE_KILL) killing = kill().then(() => void (dead = true));
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  await killing;
}

/** What a runtime of the project can pull: credential id → its api_key value. */
async function pulledValues(runtime: CloudClient): Promise<Map<string, string>> {
  const { events } = await runtime.sync.pull({ project: "p1", sinceRevision: 0n });
  const values = new Map<string, string>();
  for (const e of events.filter(isChange)) {
    if (e.event.case === "upsert") values.set(e.event.value.id, e.event.value.keys.api_key?.value ?? "");
    else if (e.event.case === "delete") values.delete(e.event.value.id);
  }
  return values;
}

function killSuite(engine: "pglite" | "postgres") {
  const adminToken = randomSeedToken();
  let database: TestDatabase;
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
  });
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });
  const start = () =>
    spawnServerProcess(
      {
        ENGINE_CLOUD_TOKEN: adminToken,
        ENGINE_CLOUD_DATA_DIR: database.dataDir,
        DATABASE_URL: database.databaseUrl ?? "",
      },
      [],
      PATIENT_START,
    );

  it(`keeps every acknowledged write across ${KILLS} kills -9 amid writes`, async () => {
    server = await start();
    const tenant: TestTenant = await createTestTenant({ url: server.url, adminToken }, { allow: ["p1"] });
    const runtimeToken = (await tenant.token()).secret;
    const acked: Acknowledged = { puts: new Map(), deleted: new Set(), tokens: [] };
    for (let life = 0; life < KILLS; life++) {
      const admin = clientOf(server, adminToken, { tenant: tenant.slug });
      const dying = server;
      await writeUntilKilled(admin, life, acked, () => dying.kill9());
      server = await start();

      const pulled = await pulledValues(clientOf(server, runtimeToken));
      const lost = [...acked.puts].filter(([id, value]) => pulled.get(id) !== value);
      expect(lost, `acknowledged puts missing or changed after kill ${life + 1}`).toEqual([]);
      expect(
        [...acked.deleted].filter((id) => pulled.has(id)),
        `acknowledged deletes undone after kill ${life + 1}`,
      ).toEqual([]);
      for (const secret of acked.tokens) {
        await expect(
          clientOf(server, secret).auth.whoAmI({}),
          `an acknowledged token after kill ${life + 1}`,
        ).resolves.toBeDefined();
      }
    }
    expect(acked.puts.size + acked.deleted.size).toBeGreaterThanOrEqual(KILLS * ACKS_BEFORE_KILL * 0.6);
  });
}

describe("kill -9 of the embedded server (PGlite data directory) during writes", () => killSuite("pglite"));
describe.skipIf(!onPostgres)("kill -9 of the server on PostgreSQL during writes", () => killSuite("postgres"));
