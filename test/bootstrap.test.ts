import { createHash, randomBytes } from "node:crypto";
import { ProjectState, TokenKind } from "@engine-cloud/api";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { runServerUntilExit } from "./support/server-exit.js";
import type { TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, startTestServer, type TestServer } from "./support/test-server.js";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { createTestTenant } from "./support/test-tenant.js";

// Each test starts servers on a database of its own and stops them itself.
const { defer, freshDatabase } = perTestCleanup();

/** A server on `database` with these env values; stopped after the test unless stopped before. */
async function serverOn(database: TestDatabase, env: Record<string, string>): Promise<TestServer> {
  const srv = await startTestServer({ database, env });
  defer(() => srv.stop());
  return srv;
}

/** The server as its own process on `database`, with no ENGINE_CLOUD_TOKEN at all. */
async function processWithoutSeedToken(database: TestDatabase) {
  const proc = await spawnServerProcess({
    ENGINE_CLOUD_TOKEN: "",
    ENGINE_CLOUD_ALLOWED_PROJECTS: "",
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    DATABASE_URL: database.databaseUrl ?? "",
  });
  defer(() => proc.kill9());
  return proc;
}

/** The tokens table as stored, every column rendered every way a secret could hide in it. */
async function storedTokenText(srv: TestServer): Promise<string> {
  const { rows } = await sql<Record<string, unknown>>`SELECT * FROM tokens`.execute(srv.server.app.storage.db);
  expect(rows.length).toBeGreaterThan(0);
  return rows
    .flatMap((row) =>
      Object.values(row).map((v) => {
        if (v instanceof Uint8Array) {
          const b = Buffer.from(v);
          return [b.toString("utf8"), b.toString("hex"), b.toString("base64"), b.toString("latin1")].join("\n");
        }
        return v instanceof Date ? v.toISOString() : JSON.stringify(v);
      }),
    )
    .join("\n");
}

const GENERATED_TOKEN = /ecp_[0-9A-Za-z]{49}/;
const generatedTokensIn = (output: string): string[] =>
  [...output.matchAll(new RegExp(GENERATED_TOKEN.source, "g"))].map((m) => m[0]);
/** Each server process takes seconds to start (PGlite initialises its data directory): more than the default timeout when busy. */
const SPAWNED_SERVER_MS = 90_000;
/** The same for tests that start the server in-process two or three times on one database. */
const RESTARTED_SERVER_MS = 90_000;

describe("bootstrap", () => {
  it("seeds a working platform admin token from ENGINE_CLOUD_TOKEN on an empty database", async () => {
    const srv = await serverOn(await freshDatabase(), { ENGINE_CLOUD_TOKEN: randomSeedToken() });
    const me = await srv.admin().auth.whoAmI({});
    expect(me).toMatchObject({ platformAdmin: true, tokenKind: TokenKind.PLATFORM_ADMIN, tenantSlug: "default" });
    expect(srv.logs.join("")).toContain("seeded the platform admin token from ENGINE_CLOUD_TOKEN");
  });

  it("stores the seeded token only as a hash: the plaintext is in no column of the tokens table", async () => {
    const srv = await serverOn(await freshDatabase(), { ENGINE_CLOUD_TOKEN: randomSeedToken() });
    const stored = await storedTokenText(srv);
    expect(stored).not.toContain(srv.adminToken);
    expect(stored).not.toContain(srv.adminToken.slice(4));
  });

  it("stores a keyed hash, not a plain SHA-256 anyone could compute from a guess", async () => {
    const srv = await serverOn(await freshDatabase(), { ENGINE_CLOUD_TOKEN: randomSeedToken() });
    const plainDigest = createHash("sha256").update(srv.adminToken).digest("hex");
    expect(await storedTokenText(srv)).not.toContain(plainDigest);
  });

  it("seeds the default tenant's project policy from ENGINE_CLOUD_ALLOWED_PROJECTS", async () => {
    const srv = await serverOn(await freshDatabase(), { ENGINE_CLOUD_ALLOWED_PROJECTS: "web, api,billing" });
    const { projects } = await srv.admin().projects.listProjects({});
    expect(projects.map((p) => [p.name, p.state, p.updatedBy])).toEqual([
      ["api", ProjectState.ALLOWED, "bootstrap"],
      ["billing", ProjectState.ALLOWED, "bootstrap"],
      ["web", ProjectState.ALLOWED, "bootstrap"],
    ]);
    expect((await srv.admin().projects.checkProject({ name: "web" })).allowed).toBe(true);
  });

  it("ignores different env values on a second start: old token works, new one is TOKEN_INVALID, policy unchanged", async () => {
    const database = await freshDatabase();
    const first = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken(), ENGINE_CLOUD_ALLOWED_PROJECTS: "web,api" });
    const policyBefore = (await first.admin().projects.listProjects({})).projects.map((p) => [p.name, p.state]);
    await first.stop();

    const second = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken(), ENGINE_CLOUD_ALLOWED_PROJECTS: "other" });
    const old = createCloudClient({ baseUrl: second.url, token: first.adminToken });
    expect((await old.auth.whoAmI({})).platformAdmin).toBe(true);
    const err = await failureOf(second.admin().auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_INVALID"]);
    const policyAfter = (await old.projects.listProjects({})).projects.map((p) => [p.name, p.state]);
    expect(policyAfter).toEqual(policyBefore);
  });

  it("says in the log that the env values were ignored on a second start", async () => {
    const database = await freshDatabase();
    const first = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken(), ENGINE_CLOUD_ALLOWED_PROJECTS: "web" });
    await first.stop();
    const second = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken(), ENGINE_CLOUD_ALLOWED_PROJECTS: "other" });
    const log = second.logs.join("");
    expect(log).toContain("ENGINE_CLOUD_TOKEN ignored");
    expect(log).toContain("ENGINE_CLOUD_ALLOWED_PROJECTS ignored");
    expect(log).not.toContain(second.adminToken);
  });

  it(
    "generates a platform admin token when none is given, prints it once on stderr, and it works",
    async () => {
      const proc = await processWithoutSeedToken(await freshDatabase());
      await expect.poll(() => generatedTokensIn(proc.output()).length).toBe(1);
      const [token] = generatedTokensIn(proc.output());
      const jsonLogLines = proc
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"));
      expect(jsonLogLines.some((l) => l.includes(token))).toBe(false);

      const me = await createCloudClient({ baseUrl: proc.url, token }).auth.whoAmI({});
      expect(me).toMatchObject({ platformAdmin: true, tokenKind: TokenKind.PLATFORM_ADMIN });
      expect(await proc.stop()).toBe(0);
    },
    SPAWNED_SERVER_MS,
  );

  it(
    "prints one plain stdout line with the console setup link while no platform administrator person exists",
    async () => {
      const proc = await processWithoutSeedToken(await freshDatabase());
      const SETUP_LINE =
        /^Open (http:\/\/127\.0\.0\.1:\d+)\/console\/setup#code=([A-Za-z0-9_-]{43}) to create the first platform administrator$/m;
      await expect.poll(() => SETUP_LINE.test(proc.output())).toBe(true);
      const [, base, code] = SETUP_LINE.exec(proc.output())!;
      expect(base).toBe(proc.url);
      expect(
        proc
          .output()
          .split("\n")
          .filter((l) => l.includes(code!)),
      ).toHaveLength(1);
      const setup = await createCloudClient({ baseUrl: proc.url }).auth.completeSetup({
        code: code!,
        email: "first-admin@example.com",
        password: "a long enough password",
        displayName: "First Admin",
      });
      expect(setup.sessionToken).toMatch(/^ecu_/);
      expect(await proc.stop()).toBe(0);
    },
    SPAWNED_SERVER_MS,
  );

  it(
    "does not print a token again when the next start finds one in the database",
    async () => {
      const database = await freshDatabase();
      const first = await processWithoutSeedToken(database);
      await expect.poll(() => generatedTokensIn(first.output()).length).toBe(1);
      const [token] = generatedTokensIn(first.output());
      await first.stop();

      const second = await processWithoutSeedToken(database);
      expect((await createCloudClient({ baseUrl: second.url, token }).auth.whoAmI({})).platformAdmin).toBe(true);
      expect(second.output()).not.toMatch(GENERATED_TOKEN);
      expect(second.output()).not.toContain("generated a platform admin token");
    },
    SPAWNED_SERVER_MS,
  );

  it("seeds ENGINE_CLOUD_TOKEN again once every platform admin token was revoked (recovery)", async () => {
    const database = await freshDatabase();
    const first = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken() });
    const me = await first.admin().auth.whoAmI({});
    await first.admin().tokens.revokeToken({ id: me.principalId });
    await first.stop();

    const second = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken() });
    expect((await second.admin().auth.whoAmI({})).platformAdmin).toBe(true);
    const revoked = await failureOf(createCloudClient({ baseUrl: second.url, token: first.adminToken }).auth.whoAmI({}));
    expect(revoked.reason).toBe("TOKEN_REVOKED");
    expect(second.logs.join("")).toContain("seeded the platform admin token from ENGINE_CLOUD_TOKEN");
  });

  it(
    "starts as usual when the seed was revoked but another platform admin token is active, and warns that the seed is revoked",
    async () => {
      const database = await freshDatabase();
      const seed = randomSeedToken();
      const first = await serverOn(database, { ENGINE_CLOUD_TOKEN: seed });
      const { secret: other } = await first.admin().tokens.createToken({ label: "second", kind: TokenKind.PLATFORM_ADMIN });
      await createCloudClient({ baseUrl: first.url, token: other }).tokens.revokeToken({
        id: (await first.admin().auth.whoAmI({})).principalId,
      });
      await first.stop();

      const second = await serverOn(database, { ENGINE_CLOUD_TOKEN: seed });
      expect((await createCloudClient({ baseUrl: second.url, token: other }).auth.whoAmI({})).platformAdmin).toBe(true);
      expect((await failureOf(second.admin().auth.whoAmI({}))).reason).toBe("TOKEN_REVOKED");
      const warning = second.logs.find((l) => l.includes("ENGINE_CLOUD_TOKEN is a token that was revoked"));
      expect(warning).toMatch(/"level":"warn"/);
      expect(second.logs.join("")).not.toContain("nothing to seed");
    },
    RESTARTED_SERVER_MS,
  );

  it(
    "never brings back a revoked seed, yet serves tenants when no platform admin token is active, and says how to recover",
    async () => {
      const database = await freshDatabase();
      const seed = randomSeedToken();
      const first = await serverOn(database, { ENGINE_CLOUD_TOKEN: seed });
      const tenant = await createTestTenant(first, { allow: ["web"] });
      const runtime = await tenant.token({ projects: ["web"] });
      await first.admin().tokens.revokeToken({ id: (await first.admin().auth.whoAmI({})).principalId });
      await first.stop();

      const second = await serverOn(database, { ENGINE_CLOUD_TOKEN: seed });
      expect((await createCloudClient({ baseUrl: second.url, token: runtime.secret }).auth.whoAmI({})).principalId).toBe(
        runtime.id,
      );
      expect((await failureOf(second.admin().auth.whoAmI({}))).reason).toBe("TOKEN_REVOKED");
      const explained = second.logs.find((l) => l.includes("no platform admin token is active"));
      expect(explained).toMatch(/"level":"error"/);
      expect(explained).toContain("ENGINE_CLOUD_TOKEN set to a new value");
      await second.stop();

      // The recovery path: a new seed.
      const third = await serverOn(database, { ENGINE_CLOUD_TOKEN: randomSeedToken() });
      expect((await third.admin().auth.whoAmI({})).platformAdmin).toBe(true);
    },
    RESTARTED_SERVER_MS,
  );

  it("exits with code 2 and one clear line when ENGINE_CLOUD_TOKEN is shorter than 32 characters", async () => {
    const database = await freshDatabase();
    const short = "too-short-secret-1234";
    const run = await runServerUntilExit({
      ENGINE_CLOUD_TOKEN: short,
      ENGINE_CLOUD_DATA_DIR: database.dataDir,
      DATABASE_URL: database.databaseUrl ?? "",
    });
    expect(run.code).toBe(2);
    const problems = run.stderr.split("\n").filter((l) => /^\s+- /.test(l));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/ENGINE_CLOUD_TOKEN must be at least 32 characters/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run.stdout + run.stderr).not.toContain(short);
    expect(run.stdout).not.toContain('"msg":"listening"');
  });

  it.each([
    [
      "holds a space",
      `${randomSeedToken()} ${randomSeedToken()}`,
      /ENGINE_CLOUD_TOKEN must be printable ASCII characters without spaces/,
    ],
    ["is over 512 characters", "s".repeat(513), /ENGINE_CLOUD_TOKEN must be at most 512 characters/],
    [
      "looks generated but has the wrong length",
      `ecp_${"A".repeat(40)}`,
      /ENGINE_CLOUD_TOKEN starts with ecp_ like a generated token/,
    ],
  ])(
    "exits with code 2 and one clear line when ENGINE_CLOUD_TOKEN %s: it could never be presented",
    async (_what, seed, line) => {
      const database = await freshDatabase();
      const run = await runServerUntilExit({
        ENGINE_CLOUD_TOKEN: seed,
        ENGINE_CLOUD_DATA_DIR: database.dataDir,
        DATABASE_URL: database.databaseUrl ?? "",
      });
      expect(run.code).toBe(2);
      const problems = run.stderr.split("\n").filter((l) => /^\s+- /.test(l));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(line);
      expect(run.stdout + run.stderr).not.toContain(seed);
      expect(run.stdout).not.toContain('"msg":"listening"');
    },
  );

  it(
    "refuses to seed a generated-looking ENGINE_CLOUD_TOKEN whose checksum this server's key does not make",
    async () => {
      // Well-formed ecp_ text, but not minted by this server: the verifier would refuse it as a typo on every request.
      const forged = `ecp_${randomBytes(40)
        .toString("base64")
        .replace(/[^0-9A-Za-z]/g, "")
        .padEnd(49, "x")
        .slice(0, 49)}`;
      const database = await freshDatabase();
      const run = await runServerUntilExit({
        ENGINE_CLOUD_TOKEN: forged,
        ENGINE_CLOUD_DATA_DIR: database.dataDir,
        DATABASE_URL: database.databaseUrl ?? "",
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/ENGINE_CLOUD_TOKEN could never be presented as a platform admin token \(checksum mismatch/);
      expect(run.stdout + run.stderr).not.toContain(forged);
    },
    SPAWNED_SERVER_MS,
  );
});
