import { ProjectState } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { uniqueSecret } from "../support/test-tenant.js";
import { expectNoProblems, goTo, screenshot, consoleSuite } from "./support/console-browser.js";

// The project policy (allow, deny, check with the reason) and credentials (an API key added, listed without
// its value, revealed only on an explicit click that the server records).

const suite = consoleSuite();

describe("projects", () => {
  it("allows, denies and checks a project, showing the reason of a refusal", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    await goTo(c.page, "Projects");
    await c.page.getByText("No project has a policy yet").waitFor();
    await c.page.getByLabel("Project name", { exact: true }).fill("billing");
    await c.page.getByRole("button", { name: "Allow", exact: true }).click();
    await c.page.getByTestId("project-billing").getByText("allowed").waitFor();
    expect((await tenant.admin.projects.getProject({ name: "billing" })).project?.state).toBe(ProjectState.ALLOWED);

    await c.page.getByRole("button", { name: "Deny billing" }).click();
    await c.page.getByTestId("project-billing").getByText("denied").waitFor();
    expect((await tenant.admin.projects.getProject({ name: "billing" })).project?.state).toBe(ProjectState.DENIED);

    const check = async (name: string) => {
      await c.page.getByLabel("Project to check", { exact: true }).fill(name);
      await c.page.getByRole("button", { name: "Check", exact: true }).click();
      return c.page.getByTestId("check-result");
    };
    await expect.poll(async () => (await check("billing")).textContent()).toMatch(/^Refused PROJECT_DENIED/);
    await expect.poll(async () => (await check("crm")).textContent()).toMatch(/^Refused PROJECT_UNKNOWN/);
    await c.page.getByRole("button", { name: "Allow billing" }).click();
    await expect.poll(async () => (await check("billing")).textContent()).toMatch(/^Allowed/);
    await screenshot(c.page, "projects");
    expectNoProblems(c);
    await c.close();
  });
});

describe("lists", () => {
  it("page by the server's page token: 50 rows, then the rest on Load more", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    for (let i = 0; i < 51; i++) await tenant.admin.projects.allowProject({ name: `p${String(i).padStart(2, "0")}` });
    const c = await suite.signIn(owner);
    await goTo(c.page, "Projects");
    const rows = c.page.locator('tr[data-testid^="project-"]');
    await expect.poll(() => rows.count()).toBe(50);
    await c.page.getByRole("button", { name: "Load more" }).click();
    await expect.poll(() => rows.count()).toBe(51);
    expect(await c.page.getByRole("button", { name: "Load more" }).count()).toBe(0);
    await c.close();
  });
});

describe("credentials", () => {
  it("adds an API key, lists it without its value, and reveals it only on request, which is audited", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    await goTo(c.page, "Credentials");
    const secret = uniqueSecret();
    await c.page.getByLabel("Provider", { exact: true }).fill("openai");
    await c.page.getByLabel("Alias", { exact: true }).fill("work");
    await c.page.getByLabel("API key", { exact: true }).fill(secret);
    await c.page.getByRole("button", { name: "Save key" }).click();
    await c.page.getByText("Saved openai/work, version 1.").waitFor();
    const row = c.page.getByTestId("credential-openai/work");
    await row.waitFor();
    expect(await c.page.content()).not.toContain(secret);
    const stored = (await tenant.admin.credentials.listCredentials({})).credentials;
    expect(stored.map((x) => `${x.provider}/${x.alias}`)).toEqual(["openai/work"]);
    await screenshot(c.page, "credentials");

    await row.getByRole("button", { name: "Reveal" }).click();
    await row.getByTestId("revealed").getByText(secret).waitFor();
    const reads = (await tenant.admin.audit.listAuditEvents({ filter: { action: "credential.read" } })).events;
    expect(reads.some((e) => e.actor?.id === owner.userId)).toBe(true);
    await row.getByRole("button", { name: "Hide" }).click();
    await expect.poll(() => c.page.content()).not.toContain(secret);

    // Saving again rotates: version 2.
    await c.page.getByLabel("API key", { exact: true }).fill(uniqueSecret());
    await c.page.getByRole("button", { name: "Save key" }).click();
    await c.page.getByText("Saved openai/work, version 2.").waitFor();
    expectNoProblems(c);
    await c.close();
  });
});
