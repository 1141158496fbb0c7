import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli, spawnCli, type LongRunningCli } from "./support/cli-process.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "./support/loopback-authorization-server.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";

// `engine-cloud connection` and `oauth-app` as a user runs them: the built binary against a real server, with a
// real authorization server (oidc-provider) on loopback and fetch playing the browser.

let srv: TestServer;
let as: LoopbackAuthorizationServer;
let tenant: TestTenant;

beforeAll(async () => {
  assertCliBuilt();
  srv = await startTestServer({ env: { ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1" } });
  as = await startLoopbackAuthorizationServer({ redirectUris: [`${srv.url}/oauth/callback`] });
  tenant = await createTestTenant(srv);
}, 60_000);
afterAll(async () => {
  await as?.close();
  await srv?.stop();
});

const env = () => ({ ENGINE_CLOUD_URL: srv.url, ENGINE_CLOUD_TOKEN: srv.adminToken, ENGINE_CLOUD_TENANT: tenant.slug });
const run = (args: string[], stdin?: string) => runCli(args, env(), stdin);

/** Runs `body` beside a command that ends on its own, and resolves with its exit code; kills it if `body` fails. */
async function exitAfter(cli: LongRunningCli, body: () => Promise<void>): Promise<number | null> {
  const closed = new Promise<number | null>((resolve) => cli.child.once("close", resolve));
  try {
    await body();
  } catch (err) {
    await cli.stop("SIGKILL");
    throw err;
  }
  return closed;
}

describe("engine-cloud oauth-app and connection", () => {
  it("sets a custom provider's app with the secret from stdin, and never prints the secret", async () => {
    const set = await run(
      [
        "oauth-app",
        "set",
        "loopback",
        "--client-id",
        as.clientId,
        "--client-secret-stdin",
        "--authorize-url",
        `${as.issuer}/auth`,
        "--token-url",
        `${as.issuer}/token`,
        "--revocation-url",
        `${as.issuer}/token/revocation`,
        "--issuer",
        as.issuer,
        "--scope",
        "openid",
        "--scope",
        "offline_access",
      ],
      `${as.clientSecret}\n`,
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("client secret stored");
    const list = await run(["oauth-app", "list", "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).apps[0]).toMatchObject({ provider: "loopback", clientId: as.clientId, hasClientSecret: true });
    expect(set.stdout + set.stderr + list.stdout).not.toContain(as.clientSecret);
  });

  it("connect prints the URL, waits for the browser, and prints the connection", async () => {
    const cli = spawnCli(["connection", "connect", "loopback", "--alias", "cli", "--wait", "2m"], env());
    const code = await exitAfter(cli, async () => {
      const out = await cli.waitForStdout(/https?:\/\/\S+/, 10_000);
      const back = await as.authorize(/(https?:\/\/\S+)/.exec(out)![1], { login: "cli-user" });
      expect((await fetch(back)).status).toBe(200);
    });
    expect(code).toBe(0);
    expect(cli.stdout()).toMatch(/Status:\s+active/);
    expect(cli.stdout()).toMatch(/Account:\s+cli-user/);
    expect(cli.stderr()).toContain("Waiting for the browser");
    for (const token of as.issuedTokens) expect(cli.stdout() + cli.stderr()).not.toContain(token);
  });

  it("connect exits 1 with the provider's error when consent is denied", async () => {
    const cli = spawnCli(["connection", "connect", "loopback", "--alias", "cli-denied", "--wait", "2m"], env());
    const code = await exitAfter(cli, async () => {
      const out = await cli.waitForStdout(/https?:\/\/\S+/, 10_000);
      await fetch(await as.authorize(/(https?:\/\/\S+)/.exec(out)![1], { deny: true }));
    });
    expect(code).toBe(1);
    expect(cli.stderr()).toContain("access_denied");
  });

  it("lists, shows and disconnects connections", async () => {
    const list = await run(["connection", "list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    const connection = JSON.parse(list.stdout).connections.find((c: { alias: string }) => c.alias === "cli");
    expect(connection).toMatchObject({ provider: "loopback", status: "CONNECTION_STATUS_ACTIVE" });
    const get = await run(["connection", "get", connection.id]);
    expect(get.stdout).toMatch(/Provider:\s+loopback/);
    const gone = await run(["connection", "disconnect", connection.id]);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toContain("the provider revoked the grant.");
    expect((await run(["connection", "get", connection.id])).stdout).toMatch(/Status:\s+disconnected/);
    const table = await run(["connection", "list"]);
    expect(table.stdout).toMatch(/cli\s+\(all\)\s+cli-user\s+disconnected/);
  });

  it("lists the provider catalog and deletes an app", async () => {
    const providers = await run(["connection", "providers"]);
    expect(providers.stdout).toMatch(/salesforce\s+Salesforce\s+my_domain/);
    const del = await run(["oauth-app", "delete", "loopback"]);
    expect(del.stdout).toContain("Deleted the OAuth app for loopback.");
    const again = await run(["connection", "connect", "loopback"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("reason=PROVIDER_UNKNOWN");
  });
});
