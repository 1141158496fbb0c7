import { Role } from "@engine-cloud/api";
import { afterAll, describe, expect, it } from "vitest";
import type { CloudClient } from "@engine-cloud/sdk";
import { signIn, uniqueEmail, uniquePassword, type TestPerson } from "../support/test-people.js";
import { createTestTenant, type TestTenant } from "../support/test-tenant.js";
import { expectNoProblems, goTo, screenshot, signInThroughForm, consoleSuite } from "./support/console-browser.js";
import { startMailSink, type MailSink } from "../support/mail-sink.js";

// Members: an owner invites by email (a loopback SMTP server receives it), the invitee follows the link in the
// mail, sets a password and signs in; the owner changes a role and removes a member.

let mail: MailSink;
const suite = consoleSuite(async () => {
  mail = await startMailSink();
  return { env: { ENGINE_CLOUD_SMTP_URL: mail.url, ENGINE_CLOUD_MAIL_FROM: "console-test@example.com" } };
});
afterAll(() => mail?.close());

/** A person in the tenant the way SMTP deployments bring one in: invited, the code read from the mail, accepted. */
async function addPersonByMail(inviter: CloudClient, role: Role): Promise<TestPerson> {
  const email = uniqueEmail(Role[role].toLowerCase());
  const password = uniquePassword();
  const displayName = `Person ${email.slice(0, 12)}`;
  await inviter.users.inviteUser({ email, role });
  const invitationCode = codeInLink(await mail.messageTo(email));
  const { member, tenantSlug } = await suite.srv.client().users.acceptInvitation({ invitationCode, displayName, password });
  return {
    ...(await signIn(suite.srv, email, password, tenantSlug)),
    userId: member!.userId,
    email,
    password,
    displayName,
    invitationCode,
  };
}

const ACCEPT_LINK = /https?:\/\/[^\s"<>]+\/console\/accept#code=([A-Za-z0-9_-]+)/;
const codeInLink = (mailText: string) => ACCEPT_LINK.exec(mailText)![1]!;

async function tenantWithOwner(): Promise<{ tenant: TestTenant; owner: TestPerson }> {
  const tenant = await createTestTenant(suite.srv);
  return { tenant, owner: await addPersonByMail(tenant.admin, Role.OWNER) };
}

const roleOf = async (
  admin: { users: { listMembers(r: object): Promise<{ members: Array<{ email: string; role: Role }> }> } },
  email: string,
) => (await admin.users.listMembers({ pageSize: 1000 })).members.find((m) => m.email === email)?.role;

describe("members", () => {
  it("invites by email; the invitee accepts through the link in the mail and is signed in to the tenant", async () => {
    const { tenant, owner } = await tenantWithOwner();
    const c = await suite.signIn(owner);
    await goTo(c.page, "Members");
    const invitee = uniqueEmail("invitee");
    await c.page.getByLabel("Email", { exact: true }).fill(invitee);
    await c.page.getByLabel("Role", { exact: true }).selectOption({ label: "operator" });
    await c.page.getByRole("button", { name: "Invite" }).click();
    await c.page.getByTestId("invitation-emailed").waitFor();
    // Emailed: the code is in the mail only, not on the inviter's screen.
    expect(await c.page.getByTestId("invitation-link").count()).toBe(0);
    await screenshot(c.page, "members");
    expectNoProblems(c);

    const link = ACCEPT_LINK.exec(await mail.messageTo(invitee))?.[0];
    expect(link, "the accept link in the mail").toBeDefined();
    const ic = await suite.open();
    await ic.page.goto(link!);
    await ic.page.getByRole("heading", { name: "Accept your invitation" }).waitFor();
    await screenshot(ic.page, "accept-invitation");
    const password = uniquePassword();
    await ic.page.getByLabel("Your name", { exact: true }).fill("Ivy Invitee");
    await ic.page.getByLabel("Choose a password (12 characters or more)", { exact: true }).fill(password);
    await ic.page.getByRole("button", { name: "Join" }).click();
    await ic.page.getByText(`Welcome to ${tenant.slug}`).waitFor();
    // The code is spent and gone from the address bar.
    expect(ic.page.url()).not.toContain("code=");
    await signInThroughForm(ic.page, { email: invitee, password });
    expect(await ic.page.getByTestId("role").textContent()).toBe("operator");
    expectNoProblems(ic);
    await Promise.all([c.close(), ic.close()]);
  });

  it("changes a member's role and removes a member", async () => {
    const { tenant, owner } = await tenantWithOwner();
    const bob = await addPersonByMail(tenant.admin, Role.VIEWER);
    const c = await suite.signIn(owner);
    await goTo(c.page, "Members");
    await c.page.getByLabel(`Role of ${bob.email}`, { exact: true }).selectOption({ label: "builder" });
    await expect.poll(() => roleOf(tenant.admin, bob.email)).toBe(Role.BUILDER);
    await c.page.getByTestId(`member-${bob.email}`).getByRole("button", { name: "Remove" }).click();
    await c.page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await expect.poll(() => roleOf(tenant.admin, bob.email)).toBeUndefined();
    await expect.poll(() => c.page.getByTestId(`member-${bob.email}`).count()).toBe(0);
    expectNoProblems(c);
    await c.close();
  });

  it("offers a viewer no member management, and an operator sees the list without controls", async () => {
    const { tenant } = await tenantWithOwner();
    const operator = await addPersonByMail(tenant.admin, Role.OPERATOR);
    const c = await suite.signIn(operator);
    await goTo(c.page, "Members");
    expect(await c.page.getByRole("button", { name: "Invite" }).count()).toBe(0);
    expect(await c.page.getByRole("button", { name: "Remove" }).count()).toBe(0);
    expect(await c.page.locator("select").count()).toBe(0);
    await c.close();
  });
});
