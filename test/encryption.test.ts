import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { RotateRootKeyResponse } from "@engine-cloud/api";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpPublicTables, encodingsOf, readEveryFile } from "./support/database-dump.js";
import { failureOf } from "./support/expect-error.js";
import { runServerUntilExit } from "./support/server-exit.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, jsonText, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// Untyped on purpose: the test reads and writes the tables as an intruder would, outside the app's types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type OwnerDb = Kysely<any>;
/** The owner connection: sees every tenant's rows, as someone with the database would. */
const ownerDb = (srv: TestServer): OwnerDb => srv.server.app.storage.db;

const sealedKeysOf = async (db: OwnerDb, credentialId: string): Promise<Buffer> => {
  const row = await db.selectFrom("credentials").select("sealed_keys").where("id", "=", credentialId).executeTakeFirstOrThrow();
  return Buffer.from(row.sealed_keys);
};

const expectAbsent = (haystack: string | Buffer, secret: string) => {
  for (const form of encodingsOf(secret)) expect(haystack.includes(form), `the dump holds ${form}`).toBe(false);
};

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

describe("the database alone", () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTestTenant(srv, { allow: ["p1"] });
  });

  it("holds no secret in any row of any table", async () => {
    const secret = uniqueSecret();
    const { id } = await putApiKey(tenant.admin, { project: "p1", provider: "dumped" }, secret);
    const dump = await dumpPublicTables(ownerDb(srv));
    expect(dump.text).toContain(id);
    expectAbsent(dump.text, secret);
    expectAbsent(dump.bytes, secret);
  });

  it.skipIf(!onPostgres)("holds no secret in a pg_dump of the database", async () => {
    const secret = uniqueSecret();
    const { id } = await putApiKey(tenant.admin, { project: "p1", provider: "pg-dumped" }, secret);
    const { stdout } = await promisify(execFile)("pg_dump", ["--data-only", srv.database.databaseUrl!], { maxBuffer: 64 << 20 });
    expect(stdout).toContain(id);
    expectAbsent(stdout, secret);
  });

  it("writes no secret into the server log", async () => {
    const secret = uniqueSecret();
    const { id } = await putApiKey(tenant.admin, { project: "p1", provider: "logged" }, secret);
    await tenant.admin.credentials.getCredential({ id });
    await tenant.admin.sync.pull({ project: "p1", sinceRevision: 0n });
    expect(srv.logs.join("\n")).not.toContain(secret);
  });
});

describe("sealed values", () => {
  /** Overwrites the sealed secrets of credential `to` with those of `from`, as a database intruder could. */
  const copySealed = async (from: string, to: string) => {
    const sealed = await sealedKeysOf(ownerDb(srv), from);
    await ownerDb(srv).updateTable("credentials").set({ sealed_keys: sealed }).where("id", "=", to).execute();
  };

  it("do not open when copied to another credential of the tenant", async () => {
    const tenant = await createTestTenant(srv);
    const [secretA, secretB] = [uniqueSecret(), uniqueSecret()];
    const a = await putApiKey(tenant.admin, { provider: "copy-source" }, secretA);
    const b = await putApiKey(tenant.admin, { provider: "copy-target" }, secretB);
    await copySealed(a.id, b.id);
    const err = await failureOf(tenant.admin.credentials.getCredential({ id: b.id }));
    expect(err.codeName).toBe("internal");
    expect(jsonText(err)).not.toContain(secretA);
    expect(jsonText(err)).not.toContain(secretB);
    expect((await tenant.admin.credentials.getCredential({ id: a.id })).credential!.keys.api_key.value).toBe(secretA);
  });

  it("do not open when an old version is replayed over the current one", async () => {
    const tenant = await createTestTenant(srv);
    const oldSecret = uniqueSecret();
    const v1 = await putApiKey(tenant.admin, { provider: "replayed" }, oldSecret);
    const sealedV1 = await sealedKeysOf(ownerDb(srv), v1.id);
    await putApiKey(tenant.admin, { provider: "replayed" }, uniqueSecret());
    await ownerDb(srv).updateTable("credentials").set({ sealed_keys: sealedV1 }).where("id", "=", v1.id).execute();
    const err = await failureOf(tenant.admin.credentials.getCredential({ id: v1.id }));
    expect(err.codeName).toBe("internal");
    expect(jsonText(err)).not.toContain(oldSecret);
  });

  it("do not open when copied to a credential of another tenant", async () => {
    const [tenantA, tenantB] = [await createTestTenant(srv), await createTestTenant(srv)];
    const secretA = uniqueSecret();
    const a = await putApiKey(tenantA.admin, { provider: "copy-source" }, secretA);
    const b = await putApiKey(tenantB.admin, { provider: "copy-target" }, uniqueSecret());
    await copySealed(a.id, b.id);
    const err = await failureOf(tenantB.admin.credentials.getCredential({ id: b.id }));
    expect(err.codeName).toBe("internal");
    expect(jsonText(err)).not.toContain(secretA);
  });
});

describe("a database written under root key K1, then rotated to K2", () => {
  const [k1, k2] = [randomBytes(32).toString("base64"), randomBytes(32).toString("base64")];
  const adminToken = randomSeedToken();
  let database: TestDatabase;
  /** Two tenants with a credential each, written under k1. */
  const written: Array<{ tenant: TestTenant; id: string; secret: string }> = [];
  /** Every file of the embedded database once the K1 server stopped (PGlite only). */
  let filesAtRest: Buffer | undefined;
  let before: VaultBytes;
  let after: VaultBytes;
  let rotations: RotateRootKeyResponse[];

  /** A server on the shared database with these root keys. */
  const serverWith = (current: string, previous: string[] = []) =>
    startTestServer({
      database,
      env: {
        ENGINE_CLOUD_TOKEN: adminToken,
        ENGINE_CLOUD_MASTER_KEY: current,
        ENGINE_CLOUD_PREVIOUS_MASTER_KEYS: previous.join(","),
      },
    });

  const readBack = (srv: TestServer, w: (typeof written)[number]) =>
    srv.admin(w.tenant.slug).credentials.getCredential({ id: w.id });

  beforeAll(async () => {
    database = await createTestDatabase();
    const first = await serverWith(k1);
    for (let i = 0; i < 2; i++) {
      const tenant = await createTestTenant(first);
      const secret = uniqueSecret();
      written.push({ tenant, secret, id: (await putApiKey(tenant.admin, { provider: "rotated" }, secret)).id });
    }
    before = await vaultBytes(ownerDb(first));
    await first.stop();
    if (!onPostgres) filesAtRest = readEveryFile(database.dataDir);

    const rotating = await serverWith(k2, [k1]);
    rotations = [await rotating.admin().keys.rotateRootKey({}), await rotating.admin().keys.rotateRootKey({})];
    after = await vaultBytes(ownerDb(rotating));
    await rotating.stop();
  });
  afterAll(() => database?.drop());

  it.skipIf(onPostgres)("held no secret in any file of the embedded data directory at rest", () => {
    expect(filesAtRest!.includes("rotated")).toBe(true);
    for (const { secret } of written) expectAbsent(filesAtRest!, secret);
  });

  it("re-wraps the key of each tenant that has one, and reports the count", () => {
    expect([rotations[0].rewrapped, rotations[0].unchanged]).toEqual([2, 0]);
  });

  it("counts the keys already under the current root key as unchanged on a second run", () => {
    expect([rotations[1].rewrapped, rotations[1].unchanged]).toEqual([0, 2]);
  });

  it("puts every tenant key under the reported root key id", () => {
    expect(written.map((w) => after.rootKeyIds.get(w.tenant.id))).toEqual(written.map(() => rotations[0].rootKeyId));
    expect(written.map((w) => before.rootKeyIds.get(w.tenant.id))).not.toContain(rotations[0].rootKeyId);
  });

  it("re-wraps only the tenant keys: the sealed credentials stay byte for byte", () => {
    for (const { id, tenant } of written) {
      expect(after.sealed.get(id)!.equals(before.sealed.get(id)!)).toBe(true);
      expect(after.wrapped.get(tenant.id)!.equals(before.wrapped.get(tenant.id)!)).toBe(false);
    }
  });

  it("reads every credential back with only the new root key", async () => {
    const srv = await serverWith(k2);
    try {
      for (const w of written) expect((await readBack(srv, w)).credential!.keys.api_key.value).toBe(w.secret);
    } finally {
      await srv.stop();
    }
  });

  it("refuses to start with only the old root key, naming the missing key", async () => {
    // The token key is sealed under the root key too (crypto/token-key.ts): without it no token could verify.
    const refused = await serverWith(k1).catch((err: Error) => err);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toContain(
      `wrapped by root key ${rotations[0].rootKeyId}, which this server does not hold`,
    );
    expect((refused as Error).message).toContain("ENGINE_CLOUD_PREVIOUS_MASTER_KEYS");
  });
});

interface VaultBytes {
  /** credential id → sealed_keys */
  sealed: Map<string, Buffer>;
  /** tenant id → wrapped_key */
  wrapped: Map<string, Buffer>;
  /** tenant id → root_key_id */
  rootKeyIds: Map<string, string>;
}

async function vaultBytes(db: OwnerDb): Promise<VaultBytes> {
  const credentials = await db.selectFrom("credentials").select(["id", "sealed_keys"]).execute();
  const keys = await db.selectFrom("tenant_keys").select(["tenant_id", "wrapped_key", "root_key_id"]).execute();
  return {
    sealed: new Map(credentials.map((c) => [c.id, Buffer.from(c.sealed_keys)])),
    wrapped: new Map(keys.map((k) => [k.tenant_id, Buffer.from(k.wrapped_key)])),
    rootKeyIds: new Map(keys.map((k) => [k.tenant_id, k.root_key_id])),
  };
}

describe("the embedded root key", () => {
  const dataDirs: string[] = [];
  const freshDataDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-key-"));
    dataDirs.push(dir);
    return dir;
  };
  afterAll(() => dataDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("is generated into <dataDir>/master.key, mode 0600, with a warning in the log", async () => {
    const dataDir = freshDataDir();
    const server = await spawnServerProcess({ ENGINE_CLOUD_MASTER_KEY: "", ENGINE_CLOUD_DATA_DIR: dataDir, DATABASE_URL: "" });
    await server.stop();
    const file = path.join(dataDir, "master.key");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const warnings = server
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.level === "warn" && entry.msg.includes(file));
    expect(warnings).toHaveLength(1);
  }, 90_000); // a spawned server initialises PGlite: more than the default timeout on a busy machine

  it("is never generated for PostgreSQL: without a key the server refuses to start, exit 2", async () => {
    const dataDir = freshDataDir();
    const exit = await runServerUntilExit({
      DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
      ENGINE_CLOUD_MASTER_KEY: "",
      ENGINE_CLOUD_DATA_DIR: dataDir,
    });
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain("ENGINE_CLOUD_MASTER_KEY");
    expect(existsSync(path.join(dataDir, "master.key"))).toBe(false);
  });
});

describe("crypto-shredding", () => {
  it("deletes a tenant's data key when the tenant is deleted", async () => {
    const tenant = await createTestTenant(srv);
    await putApiKey(tenant.admin, { provider: "shredded" }, uniqueSecret());
    const keyRows = () => ownerDb(srv).selectFrom("tenant_keys").select("tenant_id").where("tenant_id", "=", tenant.id).execute();
    expect(await keyRows()).toHaveLength(1);
    await srv.admin().tenants.deleteTenant({ tenant: tenant.slug });
    expect(await keyRows()).toEqual([]);
  });
});
