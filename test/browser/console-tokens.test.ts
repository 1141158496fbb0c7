import { Role, TokenKind } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { addPerson } from "../support/test-people.js";
import { isCaughtUp, recordWatch } from "../support/watch-recorder.js";
import { expectNoProblems, goTo, screenshot, consoleSuite } from "./support/console-browser.js";

// Tokens: created with a secret shown once (in a dialog, with a copy button), listed without it, revoked with a
// confirmation — and a runtime holding the revoked token sees its stream end.

const suite = consoleSuite();

describe("tokens", () => {
  it("creates a token and shows its secret once: the dialog has it, the list and a reload never do", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    await tenant.admin.projects.allowProject({ name: "billing" });
    const c = await suite.signIn(owner);
    await goTo(c.page, "Tokens");
    await c.page.getByLabel("Label", { exact: true }).fill("eu-runtime");
    await c.page.getByLabel("Projects (comma-separated)", { exact: true }).fill("billing");
    await c.page.getByRole("button", { name: "Create", exact: true }).click();
    const secret = await c.page.getByTestId("token-secret").inputValue();
    expect(secret).toMatch(/^ecr_/);
    await c.page.getByRole("dialog").getByRole("button", { name: "Copy" }).waitFor();
    await screenshot(c.page, "token-created");
    // The secret works, as a runtime would use it.
    expect((await suite.srv.client(secret).auth.whoAmI({})).projects).toEqual(["billing"]);
    await c.page.getByRole("button", { name: "I have copied it" }).click();
    await c.page.getByTestId("token-eu-runtime").waitFor();
    expect(await c.page.content()).not.toContain(secret);
    await c.page.reload();
    await c.page.getByTestId("token-eu-runtime").waitFor();
    expect(await c.page.content()).not.toContain(secret);
    await screenshot(c.page, "tokens");
    expect(suite.srv.logs.join("\n")).not.toContain(secret);
    expectNoProblems(c);
    await c.close();
  });

  it("revokes a token: the runtime's open stream ends with TOKEN_REVOKED", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    await tenant.admin.projects.allowProject({ name: "app" });
    const { secret } = await tenant.admin.tokens.createToken({ label: "doomed", kind: TokenKind.RUNTIME, projects: ["app"] });
    const watch = recordWatch(suite.srv.client(secret), { project: "app" });
    await watch.until(isCaughtUp);
    const c = await suite.signIn(owner);
    await goTo(c.page, "Tokens");
    await c.page.getByTestId("token-doomed").getByRole("button", { name: "Revoke" }).click();
    await c.page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    const ended = await watch.ended;
    expect(ended?.reason).toBe("TOKEN_REVOKED");
    // Gone from the active list; still there, marked, with the revoked ones.
    await expect.poll(() => c.page.getByTestId("token-doomed").count()).toBe(0);
    await c.page.getByLabel("Show revoked and expired", { exact: true }).check();
    await c.page
      .getByTestId("token-doomed")
      .getByText(/revoked/)
      .waitFor();
    expectNoProblems(c);
    await c.close();
  });

  it("offers a builder neither creation nor revocation", async () => {
    const { tenant } = await suite.tenantWithPerson();
    const builder = await addPerson(suite.srv, tenant.admin, Role.BUILDER);
    const c = await suite.signIn(builder);
    expect(await c.page.getByRole("link", { name: "Tokens", exact: true }).count()).toBe(0);
    await c.page.goto(`${suite.srv.url}/console/tokens`);
    await c.page.getByRole("heading", { name: "Not available" }).waitFor();
    await c.close();
  });
});
