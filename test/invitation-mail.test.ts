import { InvitationDelivery, InvitationState, Role } from "@engine-cloud/api";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { FAST_PASSWORD_HASH, signIn, uniqueEmail, uniquePassword } from "./support/test-people.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";
import { startMailSink, type MailSink } from "./support/mail-sink.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// Invitations by email, through a real SMTP server on loopback (the smtp-server package): the mail arrives after
// the invitation commits, holds the console link with the code in its fragment, and the code in the mail accepts.
// Only the mailbox sees the code, which is what proves the address (docs/SECURITY.md, finding 9).

type Mail = MailSink["messages"][number];

let sink: MailSink;
let srv: TestServer;
let tenant: TestTenant;

/** The mail to `address`, once it arrives (bounded). */
async function mailTo(address: string, timeoutMs = 10_000): Promise<Mail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = sink.messages.find((m) => m.to.includes(address));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no mail reached ${address} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The accept link in a mail, and the code in its fragment (quoted-printable undone). */
function linkOf(mail: Mail): { url: string; code: string } {
  const body = mail.raw
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const m = /(http:\/\/127\.0\.0\.1:\d+\/console\/accept#code=([A-Za-z0-9_]+))/.exec(body);
  if (!m) throw new Error(`no accept link in the mail:\n${body}`);
  return { url: m[1]!, code: m[2]! };
}

beforeAll(async () => {
  sink = await startMailSink();
  srv = await startTestServer({
    env: {
      ...FAST_PASSWORD_HASH,
      ENGINE_CLOUD_SMTP_URL: sink.url,
      ENGINE_CLOUD_MAIL_FROM: "cloud@example.com",
    },
  });
  tenant = await createTestTenant(srv);
});
afterAll(async () => {
  await srv?.stop();
  await sink?.close();
});

describe("invitations by email (SMTP configured)", () => {
  it("mails the console link and returns no code; the code in the mail accepts and verifies the address", async () => {
    const email = uniqueEmail("mailed");
    const res = await tenant.admin.users.inviteUser({ email, role: Role.VIEWER });
    expect([res.delivery, res.invitationCode, res.acceptUrl]).toEqual([InvitationDelivery.EMAILED, "", ""]);

    const mail = await mailTo(email);
    expect(mail.raw).toMatch(/^From: cloud@example\.com/m);
    expect(mail.raw).toContain(tenant.slug);
    const { url, code } = linkOf(mail);
    expect(url.startsWith(`${srv.url}/console/accept#code=eci_`)).toBe(true);

    const password = uniquePassword();
    const accepted = await createCloudClient({ baseUrl: srv.url }).users.acceptInvitation({
      invitationCode: code,
      displayName: "Mailed Person",
      password,
    });
    expect(accepted.tenantSlug).toBe(tenant.slug);
    const user = await srv.server.app.storage.db
      .selectFrom("users")
      .select("email_verified_at")
      .where(sql<string>`lower(email)`, "=", email.toLowerCase())
      .executeTakeFirstOrThrow();
    expect(user.email_verified_at).toBeInstanceOf(Date);
    expect(srv.logs.join("\n")).not.toContain(code);
  });

  it("shows on the invitation that it was emailed, and when the mail server took it", async () => {
    const email = uniqueEmail("listed");
    const { invitation } = await tenant.admin.users.inviteUser({ email, role: Role.VIEWER });
    await mailTo(email);
    // The status is written right after the send; poll the listing briefly.
    let listed;
    for (let i = 0; i < 50; i++) {
      listed = (await tenant.admin.users.listInvitations({})).invitations.find((x) => x.id === invitation!.id);
      if (listed?.emailSentAt) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toMatchObject({ delivery: InvitationDelivery.EMAILED, emailError: "", state: InvitationState.PENDING });
    expect(listed?.emailSentAt).toBeDefined();
  });

  it("lets the mailbox holder claim an account someone else created for the address through a link (finding 9)", async () => {
    const email = uniqueEmail("preregistered");
    // Made the way a LINK invitation an inviter accepted themselves makes it: an account nobody proved.
    const squatterPassword = uniquePassword();
    await tenant.admin.users.inviteUser({ email, role: Role.VIEWER });
    const squatted = linkOf(await mailTo(email));
    sink.messages.splice(
      sink.messages.findIndex((m) => m.to.includes(email)),
      1,
    );
    await createCloudClient({ baseUrl: srv.url }).users.acceptInvitation({
      invitationCode: squatted.code,
      displayName: "Squatter",
      password: squatterPassword,
    });
    await srv.server.app.storage.db
      .updateTable("users")
      .set({ email_verified_at: null })
      .where(sql<string>`lower(email)`, "=", email.toLowerCase())
      .execute();
    const squatterSession = await signIn(srv, email, squatterPassword);

    const other = await createTestTenant(srv);
    await other.admin.users.inviteUser({ email, role: Role.ADMIN });
    const { code } = linkOf(await mailTo(email));
    const ownerPassword = uniquePassword();
    const claimed = await createCloudClient({ baseUrl: srv.url }).users.acceptInvitation({
      invitationCode: code,
      displayName: "Real Owner",
      password: ownerPassword,
    });
    expect(claimed.member?.displayName).toBe("Real Owner");
    // The squatter's password and session are gone; the real owner signs in.
    expect(await failureOf(signIn(srv, email, squatterPassword))).toMatchObject({ reason: "LOGIN_FAILED" });
    expect(await failureOf(squatterSession.client.auth.whoAmI({}))).toMatchObject({ reason: "SESSION_REVOKED" });
    expect((await signIn(srv, email, ownerPassword, other.slug)).token).toMatch(/^ecu_/);
  });

  it("records a failed send on the invitation, without the code, and the invitation stands", async () => {
    const broken = await startTestServer({
      env: { ...FAST_PASSWORD_HASH, ENGINE_CLOUD_SMTP_URL: "smtp://127.0.0.1:1", ENGINE_CLOUD_MAIL_FROM: "cloud@example.com" },
    });
    try {
      const t = await createTestTenant(broken);
      const res = await t.admin.users.inviteUser({ email: uniqueEmail("unlucky"), role: Role.VIEWER });
      expect(res.delivery).toBe(InvitationDelivery.EMAILED);
      let listed;
      for (let i = 0; i < 100; i++) {
        listed = (await t.admin.users.listInvitations({})).invitations.find((x) => x.id === res.invitation!.id);
        if (listed?.emailError) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(listed?.emailError).toMatch(/ECONNREFUSED/);
      expect(listed?.state).toBe(InvitationState.PENDING);
      expect(broken.logs.some((l) => l.includes("could not mail an invitation"))).toBe(true);
    } finally {
      await broken.stop();
    }
  });
});

describe("invitations without SMTP", () => {
  it("hand the inviter the code and a copyable console link, as before", async () => {
    const plain = await startTestServer({ env: FAST_PASSWORD_HASH });
    try {
      const t = await createTestTenant(plain);
      const res = await t.admin.users.inviteUser({ email: uniqueEmail("linked"), role: Role.VIEWER });
      expect(res.delivery).toBe(InvitationDelivery.LINK);
      expect(res.invitationCode).toMatch(/^eci_/);
      expect(res.acceptUrl).toBe(`${plain.url}/console/accept#code=${res.invitationCode}`);
      expect(res.invitation?.delivery).toBe(InvitationDelivery.LINK);
    } finally {
      await plain.stop();
    }
  });
});
