import { Role } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { failureOf } from "../support/expect-error.js";
import { uniquePassword } from "../support/test-people.js";
import { expectNoProblems, goTo, screenshot, signInThroughForm, consoleSuite } from "./support/console-browser.js";

// Signing in and everything a person does with their own session: the shell, expiry, sign-out, sessions,
// password, tenant switch. The idle window is short here (100 s) so the warning before idle expiry shows.

const IDLE_MS = 100_000;
const suite = consoleSuite(() => ({ configure: (c) => (c.sessionIdleMs = IDLE_MS) }));

/** The session token the browser holds, read from outside the page (the page itself cannot: HttpOnly). */
async function cookieToken(c: { context: { cookies(): Promise<Array<{ name: string; value: string }>> } }): Promise<string> {
  const cookie = (await c.context.cookies()).find((k) => k.name.endsWith("ec_session"));
  expect(cookie, "the session cookie").toBeDefined();
  return cookie!.value;
}

describe("signing in", () => {
  it("signs in with email and password and shows the tenant, the role and the session's expiry", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    const c = await suite.open();
    await c.open();
    await c.page.getByRole("heading", { name: "Sign in to Engine Cloud" }).waitFor();
    await screenshot(c.page, "sign-in");
    await signInThroughForm(c.page, owner);
    await expect.poll(() => c.page.getByTestId("tenant").textContent()).toBe(tenant.slug);
    expect(await c.page.getByTestId("role").textContent()).toBe("owner");
    expect(await c.page.getByTestId("session-expiry").textContent()).toMatch(/idle expiry in \d+ (s|min) · ends in 7 d/);
    await screenshot(c.page, "overview");
    expectNoProblems(c);
    await c.close();
  });

  it("refuses a wrong password and shows the reason", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.open();
    await c.open();
    await c.page.getByLabel("Email", { exact: true }).fill(owner.email);
    await c.page.getByLabel("Password", { exact: true }).fill("not-the-password");
    await c.page.getByRole("button", { name: "Sign in" }).click();
    const alert = c.page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Sign-in failed/);
    expect(await alert.locator("code.reason").textContent()).toMatch(/^[A-Z_]+$/);
    await c.close();
  });

  it("warns before the idle expiry and offers to stay signed in", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    const warning = c.page.locator(".session-warning");
    await warning.waitFor();
    expect(await warning.textContent()).toMatch(/will end in \d+ (s|min) for inactivity/);
    await c.page.getByRole("button", { name: "Stay signed in" }).click();
    await c.close();
  });

  it("signs out: the session is revoked on the server, not just forgotten by the browser", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    const token = await cookieToken(c);
    expect((await suite.srv.client(token).auth.whoAmI({})).principalId).toBe(owner.userId);
    await c.page.getByRole("button", { name: "Sign out" }).click();
    await c.page.getByRole("heading", { name: "Sign in to Engine Cloud" }).waitFor();
    expect((await failureOf(suite.srv.client(token).auth.whoAmI({}))).codeName).toBe("unauthenticated");
    // Nor did the cookie's token reach the server's log on the way.
    expect(suite.srv.logs.join("\n")).not.toContain(token);
    await c.close();
  });
});

describe("a person's own account", () => {
  it("lists sessions and revokes another one, which stops working at once", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    await goTo(c.page, "Sessions");
    // owner.client is the session addPerson opened (a CLI's, say): revoke it from the browser.
    await c.page.getByRole("button", { name: "Revoke" }).click();
    await c.page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await expect.poll(async () => (await failureOf(owner.client.auth.whoAmI({}))).codeName).toBe("unauthenticated");
    await expect.poll(() => c.page.getByRole("button", { name: "Revoke" }).count()).toBe(0);
    await screenshot(c.page, "sessions");
    expectNoProblems(c);
    await c.close();
  });

  it("changes the password: the new one signs in, the old one no longer does", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    await goTo(c.page, "Account");
    const next = uniquePassword();
    await c.page.getByLabel("Current password", { exact: true }).fill(owner.password);
    await c.page.getByLabel("New password (12 characters or more)", { exact: true }).fill(next);
    await c.page.getByRole("button", { name: "Change password" }).click();
    await c.page.getByText("Password changed.").waitFor();
    await screenshot(c.page, "account");
    const login = (password: string) => suite.srv.client().auth.login({ email: owner.email, password });
    expect((await login(next)).session).toBeDefined();
    expect((await failureOf(login(owner.password))).codeName).toBe("unauthenticated");
    await c.close();
  });

  it("switches tenant: the shell then shows the other tenant and the role there", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    const other = await suite.tenantWithPerson();
    // The same person, a viewer in a second tenant (an existing account accepts with its password).
    const { invitationCode } = await other.tenant.admin.users.inviteUser({ email: owner.email, role: Role.VIEWER });
    await suite.srv.client().users.acceptInvitation({ invitationCode, password: owner.password });
    const c = await suite.signIn(owner, tenant.slug);
    await goTo(c.page, "Account");
    await c.page.getByLabel("Tenant slug", { exact: true }).fill(other.tenant.slug);
    await c.page.getByRole("button", { name: "Switch" }).click();
    await expect.poll(() => c.page.getByTestId("tenant").textContent()).toBe(other.tenant.slug);
    expect(await c.page.getByTestId("role").textContent()).toBe("viewer");
    // A viewer is not offered what a viewer cannot do.
    expect(await c.page.getByRole("link", { name: "Tokens", exact: true }).count()).toBe(0);
    expectNoProblems(c);
    await c.close();
  });
});
