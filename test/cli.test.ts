import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CredentialType } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, freePort, runCli, signalAfter, spawnCli, type CliResult } from "./support/cli-process.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, startTestServer, TEST_MASTER_KEY, type TestServer } from "./support/test-server.js";

// Every test runs the built binary as a user would (`node packages/cli/bin/engine-cloud.js`), against a real
// server: what is checked is the exit code and the text on stdout and stderr.

let srv: TestServer;
beforeAll(async () => {
  assertCliBuilt();
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

type Env = Record<string, string | undefined>;

/** `engine-cloud <args>` as the platform admin, in the default tenant unless `env` says otherwise. */
const run = (args: string[], env: Env = {}, stdin?: string) =>
  runCli(args, { ENGINE_CLOUD_URL: srv.url, ENGINE_CLOUD_TOKEN: srv.adminToken, ...env }, stdin);

/** Starts a command that runs until stopped (`sync watch`), as the platform admin. */
const spawnAsAdmin = (args: string[]) => spawnCli(args, { ENGINE_CLOUD_URL: srv.url, ENGINE_CLOUD_TOKEN: srv.adminToken });

/** Runs a command that must succeed, and shows its stderr if it does not. */
async function succeed(args: string[], env: Env = {}, stdin?: string): Promise<CliResult> {
  const result = await run(args, env, stdin);
  expect(result.code, `engine-cloud ${args.join(" ")} failed:\n${result.stderr}`).toBe(0);
  return result;
}

/** Runs a command with --json that must succeed, and parses its stdout. */
async function succeedJson(args: string[], env: Env = {}) {
  return JSON.parse((await succeed([...args, "--json"], env)).stdout);
}

/** Creates a token through the CLI and returns its id and secret. */
async function addToken(label: string, ...flags: string[]): Promise<{ id: string; secret: string }> {
  const res = await succeedJson(["token", "add", "--label", label, ...flags]);
  return { id: res.token.id, secret: res.secret };
}

/** Runs a command that must fail as a call (exit 1), and returns its stderr. */
async function failure(args: string[], env: Env = {}): Promise<string> {
  const result = await run(args, env);
  expect(result.code, `engine-cloud ${args.join(" ")}: expected exit 1\n${result.stdout}${result.stderr}`).toBe(1);
  return result.stderr;
}

describe("engine-cloud token", () => {
  it("prints a new token's secret once, alone on stdout, with the warning on stderr", async () => {
    const { stdout, stderr } = await succeed([
      "token",
      "add",
      "--label",
      "laptop",
      "--kind",
      "runtime",
      "--project",
      "p1",
      "--expires",
      "30d",
    ]);
    expect(stdout).toMatch(/^ec[a-z]_[0-9A-Za-z]+\n$/);
    expect(stderr).toContain('Created runtime token "laptop"');
    expect(stderr).toContain("expires in 30 days");
    expect(stderr).toContain("warning: this is the only time the secret is shown");
    expect(stderr).not.toContain(stdout.trim());
  });

  it("lists tokens in a table that never shows a secret", async () => {
    const { id, secret } = await addToken("listed-table", "--project", "p1");
    const { stdout } = await succeed(["token", "list"]);
    expect(stdout).toMatch(/^ID +LABEL +KIND +PREFIX/);
    expect(stdout).toMatch(new RegExp(`${id} +listed-table +runtime`));
    expect(stdout).not.toContain(secret);
    expect(stdout).not.toContain(secret.slice(8));
  });

  it("lists tokens as JSON that parses and carries no secret", async () => {
    const { id, secret } = await addToken("listed-json");
    const { stdout } = await succeed(["token", "list", "--json"]);
    expect(JSON.parse(stdout).tokens.map((t: { id: string }) => t.id)).toContain(id);
    expect(stdout).not.toContain(secret);
    expect(stdout).not.toContain(secret.slice(8));
  });

  it("refuses a revoked token on its next command with TOKEN_REVOKED", async () => {
    const { id, secret } = await addToken("to-revoke", "--kind", "tenant-admin");
    await succeed(["whoami"], { ENGINE_CLOUD_TOKEN: secret });
    expect((await succeed(["token", "revoke", id])).stdout).toBe(`Revoked token ${id}.\n`);
    const stderr = await failure(["whoami"], { ENGINE_CLOUD_TOKEN: secret });
    expect(stderr).toContain("code=unauthenticated");
    expect(stderr).toContain("reason=TOKEN_REVOKED");
  });
});

describe("engine-cloud project", () => {
  it("answers check for an unknown project with PROJECT_UNKNOWN, and exits 0", async () => {
    const { stdout } = await succeed(["project", "check", "never-seen"]);
    expect(stdout).toContain('refused: project "never-seen" would not sync (reason=PROJECT_UNKNOWN)');
    expect(stdout).toContain("engine-cloud project allow never-seen");
  });

  it("answers check for a denied project with PROJECT_DENIED", async () => {
    expect((await succeed(["project", "deny", "blocked"])).stdout).toBe('Project "blocked" is denied.\n');
    const { stdout } = await succeed(["project", "check", "blocked"]);
    expect(stdout).toContain("reason=PROJECT_DENIED");
    expect(stdout).toContain("hint: allow it with: engine-cloud project allow blocked");
  });

  it("answers check for an allowed project with allowed", async () => {
    expect((await succeed(["project", "allow", "open"])).stdout).toBe('Project "open" is allowed.\n');
    expect((await succeed(["project", "check", "open"])).stdout).toBe('allowed: project "open" would sync.\n');
  });

  it("answers check for a token limited to other projects with PROJECT_NOT_IN_TOKEN_SCOPE", async () => {
    await succeed(["project", "allow", "scoped"]);
    const { id } = await addToken("scoped-runtime", "--project", "p1");
    const res = await succeedJson(["project", "check", "scoped", "--token-id", id]);
    expect(res).toMatchObject({ allowed: false, reason: "PROJECT_NOT_IN_TOKEN_SCOPE" });
  });

  it("lists the policy with each project's state", async () => {
    await succeed(["project", "allow", "listed-allowed"]);
    await succeed(["project", "deny", "listed-denied"]);
    const { stdout } = await succeed(["project", "list"]);
    expect(stdout).toMatch(/^NAME +STATE/);
    expect(stdout).toMatch(/listed-allowed +allowed/);
    expect(stdout).toMatch(/listed-denied +denied/);
  });
});

describe("engine-cloud tenant", () => {
  it("creates a tenant, then lists and shows it", async () => {
    const created = await succeed(["tenant", "create", "globex", "--name", "Globex Corp"]);
    expect(created.stdout).toMatch(/^Created tenant globex \("Globex Corp", id [0-9a-f-]{36}\)\.\n$/);
    expect((await succeed(["tenant", "list"])).stdout).toMatch(/globex +Globex Corp +active/);
    expect((await succeed(["tenant", "get", "globex"])).stdout).toMatch(/^State: +active$/m);
  });

  it("suspends a tenant: its tokens are refused with TENANT_SUSPENDED until it is resumed", async () => {
    await succeed(["tenant", "create", "initech"]);
    const { secret } = await addToken("initech-admin", "--kind", "tenant-admin", "--tenant", "initech");
    await succeed(["tenant", "suspend", "initech"]);
    expect(await failure(["whoami"], { ENGINE_CLOUD_TOKEN: secret })).toContain("reason=TENANT_SUSPENDED");
    await succeed(["tenant", "resume", "initech"]);
    expect((await succeed(["whoami"], { ENGINE_CLOUD_TOKEN: secret })).stdout).toMatch(/^Tenant: +initech /m);
  });

  it("deletes a tenant: it shows as deleted and leaves the default listing", async () => {
    await succeed(["tenant", "create", "hooli"]);
    expect((await succeed(["tenant", "delete", "hooli"])).stdout).toBe("Deleted tenant hooli.\n");
    expect((await succeed(["tenant", "get", "hooli"])).stdout).toMatch(/^State: +deleted$/m);
    expect((await succeed(["tenant", "list"])).stdout).not.toContain("hooli");
    expect((await succeed(["tenant", "list", "--all"])).stdout).toContain("hooli");
  });

  it("lets a platform admin act inside another tenant with --tenant", async () => {
    await succeed(["tenant", "create", "acme"]);
    await succeed(["project", "allow", "acme-only", "--tenant", "acme"]);
    expect((await succeed(["whoami", "--tenant", "acme"])).stdout).toMatch(/^Tenant: +acme /m);
    expect((await succeed(["project", "list", "--tenant", "acme"])).stdout).toContain("acme-only");
    expect((await succeed(["project", "list"])).stdout).not.toContain("acme-only");
  });
});

describe("engine-cloud credential", () => {
  /** `credential put` with an OAuth credential's usual flags; returns the stored credential as JSON. */
  async function putOAuth(ref: string, project: string, accessToken: string, ...flags: string[]) {
    const args = ["credential", "put", ref, "--project", project, "--type", "oauth2"];
    const keys = ["--key", `access_token=${accessToken}`, "--key", "refresh_token=rt-1"];
    return (await succeedJson([...args, ...keys, ...flags])).credential;
  }

  it("stores a credential and says so without echoing its secrets", async () => {
    const { stdout, stderr } = await succeed([
      "credential",
      "put",
      "hubspot/work",
      "--project",
      "p1",
      "--type",
      "oauth2",
      "--key",
      "access_token=at-put-secret",
      "--key",
      "refresh_token=rt-put-secret",
      "--identity",
      "email=ops@acme.com",
      "--scope",
      "crm.read",
      "--auto-refresh",
    ]);
    expect(stdout).toMatch(/^Stored credential hubspot\/work for project p1 \(id [0-9a-f-]{36}, version 1, revision \d+\)\.\n$/);
    expect(stdout + stderr).not.toMatch(/at-put-secret|rt-put-secret/);
  });

  it("prints no secret in put's --json output either", async () => {
    const { stdout } = await succeed([
      "credential",
      "put",
      "notion",
      "--type",
      "api_key",
      "--key",
      "api_key=nt-json-secret",
      "--json",
    ]);
    const { credential } = JSON.parse(stdout);
    expect(credential).toMatchObject({ provider: "notion", alias: "default", type: "CREDENTIAL_TYPE_API_KEY" });
    expect(stdout).not.toContain("nt-json-secret");
  });

  it("reads secret values from a file and from standard input, dropping the final newline", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-cli-"));
    try {
      writeFileSync(path.join(dir, "password"), "pw-from-file\n");
      const args = ["credential", "put", "jira/bot", "--project", "p1", "--type", "basic"];
      const sources = ["--key-file", `password=${path.join(dir, "password")}`, "--key-stdin", "username"];
      await succeed([...args, ...sources], {}, "bot@acme.com\n");
      const { credential } = await succeedJson(["credential", "get", "jira/bot", "--project", "p1", "--show-secrets"]);
      expect(credential.keys).toMatchObject({
        username: { value: "bot@acme.com" },
        password: { value: "pw-from-file" },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("get hides secret values, and says how to show them", async () => {
    await putOAuth("google/hidden", "p1", "at-hidden-secret");
    const { stdout, stderr } = await succeed(["credential", "get", "google/hidden", "--project", "p1"]);
    expect(stdout).toMatch(/^Key access_token: +\(hidden\)$/m);
    expect(stdout).toMatch(/^Provider: +google$/m);
    expect(stdout).not.toContain("at-hidden-secret");
    expect(stderr).toContain("pass --show-secrets");
    const json = await succeed(["credential", "get", "google/hidden", "--project", "p1", "--json"]);
    expect(JSON.parse(json.stdout).credential.keys.access_token.value).toBe("");
  });

  it("get --show-secrets prints the values, and --id finds the same credential", async () => {
    const { id } = await putOAuth("google/shown", "p1", "at-shown-secret");
    const { stdout } = await succeed(["credential", "get", "--id", id, "--show-secrets"]);
    expect(stdout).toMatch(/^Key access_token: +at-shown-secret$/m);
    expect(stdout).toMatch(/^Alias: +shown$/m);
  });

  it("lists credentials with their key names and never a secret value", async () => {
    const { id } = await putOAuth("salesforce/listed", "p-list", "at-listed-secret");
    const table = await succeed(["credential", "list", "--project", "p-list"]);
    expect(table.stdout).toMatch(/^ID +PROJECT +PROVIDER +ALIAS +TYPE +KEYS/);
    expect(table.stdout).toMatch(new RegExp(`${id} +p-list +salesforce +listed +oauth2 +access_token,refresh_token`));
    const json = await succeed(["credential", "list", "--provider", "salesforce", "--json"]);
    expect(JSON.parse(json.stdout).credentials.map((c: { id: string }) => c.id)).toContain(id);
    expect(table.stdout + json.stdout).not.toContain("at-listed-secret");
  });

  it("refuses a write based on a stale version with VERSION_CONFLICT", async () => {
    await putOAuth("github/stale", "p1", "at-v1");
    await putOAuth("github/stale", "p1", "at-v2", "--expected-version", "1");
    const stderr = await failure([
      "credential",
      "put",
      "github/stale",
      "--project",
      "p1",
      "--type",
      "oauth2",
      "--key",
      "access_token=at-v3",
      "--expected-version",
      "1",
    ]);
    expect(stderr).toContain("code=aborted, reason=VERSION_CONFLICT");
  });

  it("deletes a credential: it can no longer be read", async () => {
    const { id } = await putOAuth("zendesk/gone", "p1", "at-gone");
    expect((await succeed(["credential", "delete", id])).stdout).toMatch(
      new RegExp(`^Deleted credential ${id} \\(revision \\d+\\)\\.\n$`),
    );
    expect(await failure(["credential", "get", "--id", id])).toContain("reason=CREDENTIAL_NOT_FOUND");
  });
});

describe("engine-cloud sync", () => {
  /** A stripe/live API key in the project, put through the SDK as a second writer would. */
  const putStripeKey = (project: string, value: string) =>
    srv.admin().credentials.putCredential({
      project,
      provider: "stripe",
      alias: "live",
      type: CredentialType.API_KEY,
      keys: { api_key: { value } },
    });

  it("watch prints a line for each change as it commits, without secrets, until SIGINT ends it with 0", async () => {
    await succeed(["project", "allow", "watched"]);
    const watch = spawnAsAdmin(["sync", "watch", "--project", "watched"]);
    const code = await signalAfter(watch, "SIGINT", async () => {
      await watch.waitForStdout(/^\d+ caught-up$/m);
      const { credential } = await putStripeKey("watched", "sk-watched-secret");
      await watch.waitForStdout(/ upsert stripe\/live /);
      expect(watch.stdout()).toContain(`${credential!.revision} upsert stripe/live project=watched version=1 keys=api_key\n`);
    });
    expect(code, watch.stderr()).toBe(0);
    expect(watch.stdout()).not.toContain("sk-watched-secret");
  });

  it("watch --json prints one JSON object per line", async () => {
    await succeed(["project", "allow", "watched-json"]);
    const watch = spawnAsAdmin(["sync", "watch", "--project", "watched-json", "--json"]);
    const code = await signalAfter(watch, "SIGINT", async () => {
      await watch.waitForStdout(/"caughtUp"/);
      await putStripeKey("watched-json", "sk-json-secret");
      // The snapshot before caughtUp holds the tenant-wide credentials other tests put; wait for this one.
      await watch.waitForStdout(/"upsert":\{[^\n]*"project":"watched-json","provider":"stripe"/);
    });
    expect(code, watch.stderr()).toBe(0);
    const events = watch
      .stdout()
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events[0].reset).toEqual({ reason: "INITIAL" });
    const ownUpserts = events.filter((e) => e.upsert?.project === "watched-json").map((e) => e.upsert);
    expect(ownUpserts).toEqual([expect.objectContaining({ provider: "stripe", alias: "live", version: "1" })]);
    expect(watch.stdout()).not.toContain("sk-json-secret");
  });

  it("pull prints the changes after a revision, then where it caught up", async () => {
    await succeed(["project", "allow", "pulled"]);
    const first = await putStripeKey("pulled", "sk-pull-1");
    const second = await putStripeKey("pulled", "sk-pull-2");
    const since = String(first.credential!.revision);
    const { stdout } = await succeed(["sync", "pull", "--project", "pulled", "--since", since]);
    const line = `${second.credential!.revision} upsert stripe/live project=pulled version=2 keys=api_key`;
    expect(stdout.split("\n")).toContain(line);
    expect(stdout).toMatch(/^\d+ caught-up\n$/m);
    expect(stdout).not.toContain("sk-pull-");
  });
});

describe("engine-cloud keys", () => {
  it("rotate-root reports the root key and how many tenant keys it re-wrapped", async () => {
    await succeed(["credential", "put", "keys-probe", "--type", "generic", "--key", "k=v"]);
    const res = await succeedJson(["keys", "rotate-root"]);
    expect(res.rootKeyId).not.toBe("");
    expect(res.rewrapped + res.unchanged).toBeGreaterThanOrEqual(1);
    expect((await succeed(["keys", "rotate-root"])).stdout).toMatch(
      /^Re-wrapped 0 tenant keys under root key \S+; \d+ already were\.$/m,
    );
  });
});

describe("engine-cloud status and whoami", () => {
  it("status shows the server, its version and protocols", async () => {
    const { stdout } = await succeed(["status"]);
    expect(stdout).toContain(`Server:     ${srv.url}`);
    expect(stdout).toMatch(/^API: +engine\.cloud\.v1$/m);
    expect(stdout).toMatch(/^Protocols: +.*connect/m);
  });

  it("whoami shows the platform admin and its tenant", async () => {
    const { stdout } = await succeed(["whoami"]);
    expect(stdout).toMatch(/^Platform admin: +yes$/m);
    expect(stdout).toMatch(/^Kind: +platform-admin$/m);
  });
});

describe("engine-cloud errors", () => {
  it.each([
    ["an unknown command", ["nope"], 'unknown command "nope"'],
    ["an unknown verb", ["token", "frobnicate"], 'unknown command "token frobnicate"'],
    ["an unknown flag", ["token", "list", "--frob"], "unknown flag --frob"],
    ["a missing argument", ["token", "revoke"], "missing argument <id>"],
    ["a bad --expires", ["token", "add", "--label", "x", "--expires", "3x"], 'invalid --expires "3x"'],
    ["a credential name with two slashes", ["credential", "get", "a/b/c"], 'invalid credential "a/b/c"'],
    ["a credential without a name or --id", ["credential", "get"], "name the credential"],
    ["a --key without a name", ["credential", "put", "x", "--type", "generic", "--key", "v"], "invalid --key: use"],
    ["a bad credential --type", ["credential", "put", "x", "--type", "oauth", "--key", "k=v"], 'invalid --type "oau'],
    ["a credential without secrets", ["credential", "put", "x", "--type", "generic"], "give at least one secret value"],
    ["a bad --since", ["sync", "pull", "--project", "p", "--since", "1.5"], 'invalid --since "1.5"'],
    ["sync watch without --project", ["sync", "watch"], "missing required flag --project"],
  ])("exits 2 with a usage line for %s", async (_what, args, message) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(`error: ${message}`);
    expect(stderr).toMatch(/^usage: engine-cloud /m);
  });

  it("exits 1 with UNAVAILABLE when the server cannot be reached", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const stderr = await failure(["status"], { ENGINE_CLOUD_URL: url });
    expect(stderr).toContain("code=unavailable, reason=UNAVAILABLE");
    expect(stderr).toContain(`could not reach the server at ${url}`);
  });

  it.each([
    ["a tenant", ["token", "list", "--tenant", "no-such-tenant"], "TENANT_NOT_FOUND", "engine-cloud tenant list"],
    ["a token", ["token", "revoke", "00000000-0000-4000-8000-000000000000"], "TOKEN_NOT_FOUND", "engine-cloud token list"],
    ["a credential", ["credential", "get", "nobody/none"], "CREDENTIAL_NOT_FOUND", "engine-cloud credential list"],
  ])(
    "names the command to run next when %s is not found; the server's message does not",
    async (_what, args, reason, command) => {
      const [error, hint] = (await failure(args)).split("\n");
      expect(error).toContain(`reason=${reason}`);
      expect(error).not.toContain("engine-cloud");
      expect(hint).toBe(`hint: list them with: ${command}`);
    },
  );

  it("with --json, reports a failure as one JSON object on stderr", async () => {
    const { code, stdout, stderr } = await run(["whoami", "--json"], { ENGINE_CLOUD_TOKEN: undefined });
    expect([code, stdout]).toEqual([1, ""]);
    expect(JSON.parse(stderr).error).toMatchObject({ code: "unauthenticated", reason: "TOKEN_MISSING" });
  });
});

describe("engine-cloud serve and migrate", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  /** The settings of a server of the test's own: an empty PGlite directory, or a fresh Postgres database. */
  const serverEnv = (): Env => ({
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    DATABASE_URL: database.databaseUrl,
    ENGINE_CLOUD_TOKEN: randomSeedToken(),
    ENGINE_CLOUD_MASTER_KEY: TEST_MASTER_KEY,
  });

  it("migrate applies every migration to an empty database, then finds it up to date", async () => {
    const first = await runCli(["migrate"], serverEnv());
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('"msg":"applied migrations"');
    const second = await runCli(["migrate"], serverEnv());
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('"msg":"database is up to date"');
  }, 90_000);

  it("serve listens, answers status, and exits 0 on SIGTERM", async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const server = spawnCli(["serve", "--listen", listen], serverEnv());
    const code = await signalAfter(server, "SIGTERM", async () => {
      await server.waitForStdout(/"msg":"listening"/, 60_000);
      const status = await runCli(["status"], { ENGINE_CLOUD_URL: `http://${listen}` });
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toContain(`Server:     http://${listen}`);
    });
    expect(code, server.stderr()).toBe(0);
  }, 90_000);
});
