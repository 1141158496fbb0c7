import { ConnectionStatus, TokenKind } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectLoopbackAccount, registerLoopbackApp } from "../support/hub-connections.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "../support/loopback-authorization-server.js";
import { isCaughtUp, recordWatch } from "../support/watch-recorder.js";
import { expectNoProblems, goTo, screenshot, consoleSuite } from "./support/console-browser.js";

// Connecting a provider through the hub's browser flow, the whole way in the browser: the console's Connect
// button, the loopback authorization server's login and consent pages, the server's callback page, back to the
// console's connections. Then runtimes: one appears while its stream is open and goes offline when it ends.

const suite = consoleSuite(() => ({ env: { ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1", ENGINE_CLOUD_PRESENCE_FLUSH_MS: "100" } }));
let as: LoopbackAuthorizationServer;
beforeAll(async () => {
  as = await startLoopbackAuthorizationServer({ redirectUris: [`${suite.srv.url}/oauth/callback`] });
});
afterAll(() => as?.close());

describe("connections", () => {
  it("connects a provider end to end in the browser and lists the connection as active", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    await registerLoopbackApp(tenant.admin, as);
    const c = await suite.signIn(owner);
    await goTo(c.page, "Connections");
    await c.page.getByLabel("Provider", { exact: true }).selectOption("loopback");
    await c.page.getByLabel("Alias", { exact: true }).fill("work");
    await c.page.getByRole("button", { name: "Connect", exact: true }).click();
    // The authorization server's own pages: login, then consent.
    await c.page.waitForURL((u) => u.origin === new URL(as.issuer).origin);
    await c.page.locator('input[name="login"]').fill("alice");
    await c.page.locator('input[name="password"]').fill("any");
    await c.page.locator('button[type="submit"]').click();
    await c.page.locator('button[type="submit"]').click();
    // The server's callback page, which links back to the console.
    await c.page.waitForURL((u) => u.pathname === "/oauth/callback");
    await c.page.getByRole("link", { name: /console/i }).click();
    await c.page.getByRole("heading", { level: 1, name: "Connections" }).waitFor();
    const row = c.page.getByTestId("connection-loopback/work");
    await row.getByText("active").waitFor();
    const { connections } = await tenant.admin.connections.listConnections({});
    expect(connections.map((x) => [x.alias, x.status])).toEqual([["work", ConnectionStatus.ACTIVE]]);
    await screenshot(c.page, "connections");

    await row.getByRole("button", { name: "Refresh" }).click();
    await expect
      .poll(async () => (await tenant.admin.connections.getConnection({ id: connections[0]!.id })).connection?.lastRefreshAt)
      .toBeDefined();
    await row.getByRole("button", { name: "Disconnect" }).click();
    await c.page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await expect
      .poll(async () => (await tenant.admin.connections.getConnection({ id: connections[0]!.id })).connection?.status)
      .toBe(ConnectionStatus.DISCONNECTED);
    expectNoProblems(c);
    await c.close();
  });
});

describe("a connection that needs reauthorization", () => {
  it("is shown loudly, first, at the reauthorize URL the hub hands out (/console/connections/<id>)", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    await registerLoopbackApp(tenant.admin, as);
    await connectLoopbackAccount(tenant.admin, as, { login: "bob", alias: "other" });
    const id = await connectLoopbackAccount(tenant.admin, as, { login: "carol", alias: "lost" });
    // The grant revoked at the provider: the next refresh gets invalid_grant.
    await as.revoke(as.refreshTokens.at(-1)!);
    await tenant.admin.connections.refreshConnection({ id }).catch(() => undefined);
    await expect
      .poll(async () => (await tenant.admin.connections.getConnection({ id })).connection?.status)
      .toBe(ConnectionStatus.NEEDS_REAUTH);
    const c = await suite.signIn(owner);
    await c.page.goto(`${suite.srv.url}/console/connections/${id}`);
    const alert = c.page.getByRole("alert").filter({ hasText: "to be reconnected" });
    await alert.waitFor();
    expect(await alert.textContent()).toContain("loopback/lost");
    const rows = c.page.locator("tbody tr");
    expect(await rows.first().getAttribute("data-testid")).toBe("connection-loopback/lost");
    expect(await rows.first().getAttribute("class")).toBe("focused");
    await screenshot(c.page, "connection-needs-reauth");
    await rows.first().getByText("needs reauth").waitFor();
    // Reconnecting goes through the provider again, for the same connection.
    await rows.first().getByRole("button", { name: "Reconnect" }).click();
    await c.page.waitForURL((u) => u.origin === new URL(as.issuer).origin);
    expectNoProblems(c);
    await c.close();
  });
});

describe("runtimes", () => {
  it("shows a runtime while its stream is open, and offline once it ends", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    await tenant.admin.projects.allowProject({ name: "app" });
    const { secret } = await tenant.admin.tokens.createToken({ label: "rt-token", kind: TokenKind.RUNTIME, projects: ["app"] });
    const c = await suite.signIn(owner);
    await goTo(c.page, "Runtimes");
    await c.page.getByText("No runtime is connected").waitFor();
    const watch = recordWatch(suite.srv.client(secret), {
      project: "app",
      runtimeId: "rt-1",
      runtime: { name: "engine-oss", host: "worker-7" },
    });
    await watch.until(isCaughtUp);
    const row = c.page.getByTestId("runtime-rt-token");
    await expect.poll(() => row.getAttribute("data-state"), { timeout: 15_000 }).toBe("connected");
    expect(await row.textContent()).toContain("worker-7");
    await screenshot(c.page, "runtimes");
    await watch.close();
    await expect.poll(() => row.getAttribute("data-state"), { timeout: 15_000 }).toBe("offline");
    expectNoProblems(c);
    await c.close();
  });
});
