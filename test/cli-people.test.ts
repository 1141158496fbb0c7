import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli, type CliResult } from "./support/cli-process.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// A person's whole journey through the built binary, against a real server: a platform administrator seats
// the tenant's first owner, who invites, promotes and removes a colleague, moves between tenants and signs
// out. The steps build on each other and run in order. Every run goes through `cli`, so the last test can
// check that no password, session token or invitation code was printed where it must not be.

type Env = Record<string, string | undefined>;

let srv: TestServer;
let root: string;
const runs: { args: string[]; result: CliResult }[] = [];
const passwords = {
  ann: "ann's correct horse battery",
  annNew: "ann's even better passphrase",
  bob: "bob's staple gun and horse",
  carol: "carol's twelve-plus password",
};
const invitationCodes: string[] = [];
/** Every session token seen in a session file. */
const sessionTokens = new Set<string>();

beforeAll(async () => {
  assertCliBuilt();
  // The lowest memory-hard cost the server accepts, so the many sign-ins of the journey stay fast.
  srv = await startTestServer({ env: { ENGINE_CLOUD_PASSWORD_HASH_LOG_N: "14" } });
  root = mkdtempSync(path.join(tmpdir(), "engine-cloud-people-"));
});
afterAll(async () => {
  await srv?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function cli(args: string[], env: Env, stdin?: string): Promise<CliResult> {
  const result = await runCli(args, { ENGINE_CLOUD_URL: srv.url, ...env }, stdin);
  runs.push({ args, result });
  return result;
}

/** The config directory of one person's machine; no ENGINE_CLOUD_TOKEN, so the stored session is the credential. */
const machine = (name: string): Env => ({ ENGINE_CLOUD_CONFIG_DIR: path.join(root, name) });
const sessionFile = (name: string) => path.join(root, name, "session.json");
function storedSession(name: string) {
  const session = JSON.parse(readFileSync(sessionFile(name), "utf8"));
  sessionTokens.add(session.session_token);
  return session;
}

const asAdmin = (args: string[]) => cli(args, { ENGINE_CLOUD_TOKEN: srv.adminToken });
const on = (name: string) => (args: string[], stdin?: string) => cli(args, machine(name), stdin);
const ann = on("ann");
const bob = on("bob");
const carol = on("carol");
const annLaptop = on("ann-laptop");

function expectOk(result: CliResult): CliResult {
  expect(result.code, `expected exit 0\n${result.stdout}${result.stderr}`).toBe(0);
  return result;
}

function expectRefused(result: CliResult, reason: RegExp): void {
  expect(result.code, `expected exit 1\n${result.stdout}${result.stderr}`).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`reason=${reason.source}`));
}

/** Invites `email` as `role` with `as`, checks the code is printed alone and once, and returns it. */
async function invite(as: (args: string[]) => Promise<CliResult>, email: string, role: string): Promise<string> {
  const { stdout, stderr } = expectOk(await as(["user", "invite", email, "--role", role]));
  expect(stdout).toMatch(/^\S+\n$/);
  expect(stderr).toContain("the only time the code is shown");
  const code = stdout.trim();
  expect(stderr).not.toContain(code);
  invitationCodes.push(code);
  return code;
}

const acceptNew = (who: (args: string[], stdin?: string) => Promise<CliResult>, code: string, name: string, password: string) =>
  who(["user", "accept", code, "--name", name, "--password-stdin"], `${password}\n`);

/** `login --password-stdin` on the named machine; a stored session's token is remembered for the last test. */
async function login(name: string, email: string, password: string, ...flags: string[]): Promise<CliResult> {
  const result = await on(name)(["login", "--email", email, "--password-stdin", ...flags], `${password}\n`);
  if (result.code === 0) storedSession(name);
  return result;
}

describe("engine-cloud people, from invitation to logout", () => {
  it("lets a platform administrator create a tenant and invite its owner", async () => {
    expectOk(await asAdmin(["tenant", "create", "acme"]));
    await invite((args) => asAdmin(["--tenant", "acme", ...args]), "ann@acme.com", "owner");
  });

  it("accepts the invitation without any credential, creating the account", async () => {
    const { stdout } = expectOk(await acceptNew(ann, invitationCodes[0], "Ann", passwords.ann));
    expect(stdout).toMatch(/Joined acme as owner \(ann@acme\.com\)/);
  });

  it("refuses the same invitation code a second time", async () => {
    expectRefused(await acceptNew(bob, invitationCodes[0], "Mallory", passwords.bob), /INVITATION_INVALID/);
  });

  it("refuses a wrong password at login with LOGIN_FAILED and stores nothing", async () => {
    expectRefused(await login("ann", "ann@acme.com", "not ann's password at all"), /LOGIN_FAILED/);
    expect(() => statSync(sessionFile("ann"))).toThrow();
  });

  it("logs in, keeping the session in a 0600 file and printing no token", async () => {
    const { stdout, stderr } = expectOk(await login("ann", "ann@acme.com", passwords.ann));
    expect(stdout).toContain("Logged in to");
    expect(stdout).toContain("as ann@acme.com, owner of acme");
    expect(statSync(sessionFile("ann")).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(root, "ann")).mode & 0o777).toBe(0o700);
    const stored = storedSession("ann");
    expect(stored).toMatchObject({ server: srv.url, tenant_slug: "acme", email: "ann@acme.com" });
    expect(stored.session_token).toMatch(/^ecu_/);
    expect(stdout + stderr).not.toContain(stored.session_token);
  });

  it("shows the owner of acme in whoami", async () => {
    const { stdout } = expectOk(await ann(["whoami"]));
    expect(stdout).toMatch(/Principal: +user /);
    expect(stdout).toMatch(/Name: +ann@acme\.com/);
    expect(stdout).toMatch(/Tenant: +acme /);
    expect(stdout).toMatch(/Role: +owner/);
    expect(stdout).toMatch(/Credential: +session of 'engine-cloud login'/);
    const me = JSON.parse(expectOk(await ann(["whoami", "--json"])).stdout);
    expect(me).toMatchObject({ principalType: "user", role: "owner", tenantSlug: "acme" });
  });

  it("runs the existing commands with the session", async () => {
    expectOk(await ann(["project", "allow", "web"]));
    expect(expectOk(await ann(["project", "list"])).stdout).toMatch(/web +allowed/);
    const { stdout } = expectOk(await ann(["token", "add", "--label", "ann-ci"]));
    expect(stdout).toMatch(/^ec[a-z]_\S+\n$/);
  });

  it("lets the owner invite a viewer, who accepts and logs in on their own machine", async () => {
    const code = await invite(ann, "bob@acme.com", "viewer");
    expectOk(await acceptNew(bob, code, "Bob", passwords.bob));
    expect(expectOk(await login("bob", "bob@acme.com", passwords.bob)).stdout).toContain("bob@acme.com, viewer of acme");
  });

  it("lists open invitations in a table and as JSON, never their codes, and revokes one by id", async () => {
    const code = await invite(ann, "dave@acme.com", "operator");
    const { stdout } = expectOk(await ann(["user", "invitations"]));
    expect(stdout).toMatch(/^ID +EMAIL +ROLE +STATE +INVITED BY/);
    expect(stdout).toMatch(/dave@acme\.com +operator +pending +user:/);
    const { invitations } = JSON.parse(expectOk(await ann(["user", "invitations", "--json"])).stdout);
    expect(invitations.map((i: { email: string; state: string }) => [i.email, i.state])).toEqual([
      ["dave@acme.com", "INVITATION_STATE_PENDING"],
    ]);
    expect(expectOk(await ann(["user", "revoke-invitation", invitations[0].id])).stdout).toContain(
      "Revoked the invitation of dave@acme.com",
    );
    expectRefused(await acceptNew(carol, code, "Dave", passwords.carol), /INVITATION_REVOKED/);
    expect(expectOk(await ann(["user", "invitations"])).stdout).toContain("No open invitations.");
    expect(expectOk(await ann(["user", "invitations", "--all"])).stdout).toMatch(/dave@acme\.com +operator +revoked/);
  });

  it("refuses the viewer what a viewer may not do, with PERMISSION_DENIED", async () => {
    expectRefused(await bob(["token", "list"]), /PERMISSION_DENIED/);
  });

  it("changes a member's role by email, and lists it", async () => {
    expect(expectOk(await ann(["user", "set-role", "bob@acme.com", "operator"])).stdout).toContain(
      "bob@acme.com is now operator",
    );
    expect(expectOk(await ann(["user", "list"])).stdout).toMatch(/bob@acme\.com +Bob +operator +active/);
    const { members } = JSON.parse(expectOk(await ann(["user", "list", "--json"])).stdout);
    expect(members.map((m: { email: string; role: string }) => [m.email, m.role])).toEqual([
      ["ann@acme.com", "ROLE_OWNER"],
      ["bob@acme.com", "ROLE_OPERATOR"],
    ]);
  });

  it("removes a member: their next command is refused", async () => {
    expectOk(await ann(["user", "remove", "bob@acme.com"]));
    expectRefused(await bob(["whoami"]), /(SESSION_REVOKED|MEMBERSHIP_REMOVED)/);
  });

  it("says plainly when an email names no member", async () => {
    const result = await ann(["user", "remove", "nobody@acme.com"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no member with email "nobody@acme.com"');
  });

  it("prefers ENGINE_CLOUD_TOKEN over the stored session", async () => {
    const result = await cli(["whoami"], { ...machine("ann"), ENGINE_CLOUD_TOKEN: srv.adminToken });
    expect(expectOk(result).stdout).toMatch(/Principal: +token /);
    expect(result.stdout).toMatch(/Credential: +ENGINE_CLOUD_TOKEN/);
  });

  it("never sends the session to another server, and says why", async () => {
    const elsewhere = srv.url.replace("127.0.0.1", "localhost");
    const result = await cli(["whoami", "--server", elsewhere], machine("ann"));
    expectRefused(result, /TOKEN_MISSING/);
    expect(result.stderr).toContain(`hint: you are logged in to ${srv.url}, not ${elsewhere}`);
  });

  it("lets a person with an account accept an invitation to another tenant with their password alone", async () => {
    expectOk(await asAdmin(["tenant", "create", "globex"]));
    const code = await invite((args) => asAdmin(["--tenant", "globex", ...args]), "ann@acme.com", "admin");
    const { stdout } = expectOk(await ann(["user", "accept", code, "--password-stdin"], `${passwords.ann}\n`));
    expect(stdout).toContain("Joined globex as admin");
  });

  it("switches the session to another tenant the person belongs to, replacing the stored one", async () => {
    const before = storedSession("ann").session_token;
    expect(expectOk(await ann(["tenant", "switch", "globex"])).stdout).toContain("ann@acme.com, admin of globex");
    expect(storedSession("ann")).toMatchObject({ tenant_slug: "globex" });
    expect(statSync(sessionFile("ann")).mode & 0o777).toBe(0o600);
    expect(expectOk(await ann(["whoami", "--json"])).stdout).toContain('"tenantSlug": "globex"');
    expectRefused(await cli(["whoami", "--token", before], {}), /SESSION_REVOKED/);
    expectOk(await ann(["tenant", "switch", "acme"]));
    storedSession("ann");
  });

  it("lists the person's sessions, marking the current one, and ends another", async () => {
    expectOk(await login("ann-laptop", "ann@acme.com", passwords.ann, "--tenant", "acme"));
    const laptopSession = JSON.parse(expectOk(await annLaptop(["whoami", "--json"])).stdout).sessionId;
    const { stdout } = expectOk(await ann(["auth", "sessions"]));
    expect(stdout).toMatch(/^ID +CURRENT +TENANT/);
    expect(stdout).toMatch(new RegExp(`${laptopSession} +no `));
    expect(stdout.match(/ yes /g)).toHaveLength(1);
    expectOk(await ann(["auth", "revoke-session", laptopSession]));
    const refused = await annLaptop(["whoami"]);
    expectRefused(refused, /SESSION_REVOKED/);
    expect(refused.stderr).toContain("hint: sign in again with: engine-cloud login");
  });

  it("logs out even when the server has already ended the session", async () => {
    expect(expectOk(await annLaptop(["logout"])).stdout).toContain("Logged out");
    expect(() => statSync(sessionFile("ann-laptop"))).toThrow();
  });

  it("changes the password: the old one stops working, the new one signs in", async () => {
    expectOk(await ann(["auth", "change-password", "--password-stdin"], `${passwords.ann}\n${passwords.annNew}\n`));
    expectRefused(await login("ann-laptop", "ann@acme.com", passwords.ann), /LOGIN_FAILED/);
    expectOk(await login("ann-laptop", "ann@acme.com", passwords.annNew));
  });

  it("lets a platform administrator disable a person everywhere", async () => {
    const code = await invite(ann, "carol@acme.com", "builder");
    expectOk(await acceptNew(carol, code, "Carol", passwords.carol));
    expectOk(await login("carol", "carol@acme.com", passwords.carol));
    const carolId = storedSession("carol").user_id;
    expectOk(await asAdmin(["user", "disable", carolId]));
    expectRefused(await carol(["whoami"]), /(USER_DISABLED|SESSION_REVOKED)/);
  });

  it("logs out: the session file is gone and the next command has no credential", async () => {
    const { stdout } = expectOk(await ann(["logout"]));
    expect(stdout).toContain("Logged out of");
    expect(() => statSync(sessionFile("ann"))).toThrow();
    const result = await ann(["whoami"]);
    expectRefused(result, /TOKEN_MISSING/);
    expect(result.stderr).toContain("hint: not logged in: run 'engine-cloud login'");
  });

  it("says so when logging out while not logged in", async () => {
    const result = await ann(["logout"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not logged in");
  });

  it("never printed a password or session token, and each invitation code only once, by its invite", async () => {
    const printed = runs.map(({ result }) => result.stdout + result.stderr);
    for (const password of Object.values(passwords)) {
      expect(printed.filter((text) => text.includes(password))).toEqual([]);
    }
    expect(sessionTokens.size).toBeGreaterThanOrEqual(6);
    for (const token of sessionTokens) expect(printed.filter((text) => text.includes(token))).toEqual([]);
    for (const code of invitationCodes) {
      const shownBy = runs.filter(({ result }) => (result.stdout + result.stderr).includes(code));
      expect(shownBy.map(({ args }) => args.slice(-4, -2))).toEqual([["invite", expect.any(String)]]);
    }
  });
});
