import { readFileSync } from "node:fs";
import { TenantState } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import type { TestServer } from "../support/test-server.js";
import { uniquePassword } from "../support/test-people.js";
import { expectNoProblems, goTo, screenshot, consoleSuite } from "./support/console-browser.js";

// The audit log (filter, live tail, export) and the platform administrator's pages, reached the way a new
// operator does: the first-run setup link creates the first platform administrator.

const suite = consoleSuite();
/** The code the server minted at start (no platform administrator person yet) and printed as the setup link. */
const setupCodeOf = (server: TestServer) => server.server.app.bootstrap.setupCode!;

describe("the audit log", () => {
  it("filters by action, tails live and exports the chain as JSON Lines", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    await tenant.admin.projects.allowProject({ name: "billing" });
    await tenant.admin.projects.denyProject({ name: "crm" });
    const c = await suite.signIn(owner);
    await goTo(c.page, "Audit log");
    await c.page.getByTestId("chain-status").getByText("Chain links intact").waitFor();
    await c.page.getByLabel("Action", { exact: true }).fill("project.deny");
    await c.page.getByRole("button", { name: "Apply filter" }).click();
    await expect
      .poll(
        async () =>
          await c.page.locator("table.audit tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action"))),
      )
      .toEqual(["project.deny"]);
    await screenshot(c.page, "audit");

    await c.page.getByLabel("Live tail", { exact: true }).check();
    await c.page.getByTestId("live-tail").waitFor();
    await tenant.admin.projects.denyProject({ name: "erp" });
    await expect.poll(() => c.page.locator("table.audit tbody tr").count()).toBe(2);

    const [download] = await Promise.all([
      c.page.waitForEvent("download"),
      c.page.getByRole("button", { name: "Export (JSON Lines)" }).click(),
    ]);
    const lines = readFileSync((await download.path())!, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(3);
    expect(JSON.stringify(lines)).toContain("project.deny");
    expectNoProblems(c);
    await c.close();
  });
});

describe("the platform administrator", () => {
  it("is created by the first-run setup link, then creates and suspends a tenant", async () => {
    const c = await suite.open();
    await c.page.goto(`${suite.srv.url}/console/setup#code=${setupCodeOf(suite.srv)}`);
    await c.page.getByRole("heading", { name: "Set up Engine Cloud" }).waitFor();
    await screenshot(c.page, "setup");
    await c.page.getByLabel("Email", { exact: true }).fill("root@example.com");
    await c.page.getByLabel("Name", { exact: true }).fill("Rita Root");
    await c.page.getByLabel("Password (12 characters or more)", { exact: true }).fill(uniquePassword());
    await c.page.getByRole("button", { name: "Create administrator and sign in" }).click();
    await c.page.getByRole("button", { name: "Sign out" }).waitFor();
    expect(c.page.url()).toBe(`${suite.srv.url}/console/`);
    expect(await c.page.getByTestId("role").textContent()).toContain("platform admin");

    await goTo(c.page, "Tenants");
    await c.page.getByLabel("Slug", { exact: true }).fill("globex");
    await c.page.getByLabel("Display name", { exact: true }).fill("Globex Corp");
    await c.page.getByRole("button", { name: "Create tenant" }).click();
    const row = c.page.getByTestId("tenant-globex");
    await row.getByText("active").waitFor();

    // Acting in the new tenant (engine-tenant), the administrator seats its first owner with a copyable link
    // (this server has no SMTP), then comes back to their own tenant.
    await row.getByRole("button", { name: "Act in globex" }).click();
    await expect.poll(() => c.page.getByTestId("tenant").textContent()).toBe("globex");
    await goTo(c.page, "Members");
    await c.page.getByLabel("Email", { exact: true }).fill("first-owner@example.com");
    await c.page.getByLabel("Role", { exact: true }).selectOption({ label: "owner" });
    await c.page.getByRole("button", { name: "Invite" }).click();
    expect(await c.page.getByTestId("invitation-link").inputValue()).toMatch(/\/console\/accept#code=/);
    expect((await suite.srv.admin("globex").users.listInvitations({})).invitations.map((i) => i.email)).toEqual([
      "first-owner@example.com",
    ]);
    await c.page.getByRole("button", { name: "Back to my tenant" }).click();
    await expect.poll(() => c.page.getByTestId("tenant").textContent()).toBe("default");
    await goTo(c.page, "Tenants");
    await row.getByRole("button", { name: "Suspend" }).click();
    await c.page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await row.getByText("suspended").waitFor();
    expect((await suite.srv.admin().tenants.getTenant({ tenant: "globex" })).tenant?.state).toBe(TenantState.SUSPENDED);
    await screenshot(c.page, "tenants");

    await goTo(c.page, "Server");
    await c.page.getByTestId("server-info").getByText("serving").waitFor();
    await screenshot(c.page, "server");
    expectNoProblems(c);
    await c.close();
  });

  it("refuses the setup link a second time", async () => {
    const c = await suite.open();
    await c.page.goto(`${suite.srv.url}/console/setup#code=${setupCodeOf(suite.srv)}`);
    await c.page.getByLabel("Email", { exact: true }).fill("second@example.com");
    await c.page.getByLabel("Name", { exact: true }).fill("Sam Second");
    await c.page.getByLabel("Password (12 characters or more)", { exact: true }).fill(uniquePassword());
    await c.page.getByRole("button", { name: "Create administrator and sign in" }).click();
    await c.page.getByText("Setup failed").waitFor();
    await c.close();
  });

  it("is not offered to a tenant owner", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    expect(await c.page.getByRole("link", { name: "Tenants", exact: true }).count()).toBe(0);
    await c.close();
  });
});
