import { createHmac, randomBytes } from "node:crypto";
import { createConnectTransport } from "@connectrpc/connect-node";
import { InvitationState, Role, TokenKind } from "@engine-cloud/api";
import { describeCloudError, type CloudErrorDetails } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderForLeakCheck } from "./support/call-any-method.js";
import { failureOf } from "./support/expect-error.js";
import { addPerson, FAST_PASSWORD_HASH, signIn, uniqueEmail, uniquePassword, type TestPerson } from "./support/test-people.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// People through the SDK, against a real server: invitations, sign-in,
// roles and owners, sessions, removal and disabling, and the secrets all of
// that handles (passwords, session tokens, invitation codes) never showing
// up where they should not.

let srv: TestServer;
/** A second server for the throttling tests (see there); its log is checked too. */
let throttled: TestServer | undefined;
/** Every password, session token and invitation code this suite handled: none may appear in a log. */
const secretsHandled: string[] = [];

beforeAll(async () => {
  srv = await startTestServer({ env: FAST_PASSWORD_HASH });
});
afterAll(() => srv?.stop());

const anonymous = () => createCloudClient({ baseUrl: srv.url });

/** Remembers a person's secrets for the log check at the end. */
function remember<T extends Partial<TestPerson>>(person: T): T {
  for (const s of [person.password, person.token, person.invitationCode]) if (s) secretsHandled.push(s);
  return person;
}

async function person(server: TestServer, inviter: TestTenant["admin"], role: Role, options?: Parameters<typeof addPerson>[3]) {
  return remember(await addPerson(server, inviter, role, options));
}

/** A tenant of the test's own, its first owner seated by the platform administrator. */
async function tenantWithOwner(server = srv) {
  const tenant = await createTestTenant(server);
  const owner = await person(server, tenant.admin, Role.OWNER);
  return { tenant, owner };
}

const roleOf = async (client: TestPerson["client"], userId: string) =>
  (await client.users.listMembers({})).members.find((m) => m.userId === userId)?.role;

const sameError = (e: CloudErrorDetails) => ({ code: e.codeName, reason: e.reason, message: e.message, metadata: e.metadata });

describe("the journey: invite, accept, sign in, manage, remove", () => {
  it("takes people from an invitation to managing the tenant, and out of it again", async () => {
    // The platform administrator creates the tenant and invites its first owner.
    const tenant = await createTestTenant(srv);
    const aliceEmail = uniqueEmail("alice");
    const alicePassword = uniquePassword();
    const invited = await tenant.admin.users.inviteUser({ email: aliceEmail, role: Role.OWNER });
    secretsHandled.push(invited.invitationCode, alicePassword);
    expect(invited.invitationCode).toMatch(/^eci_/);
    const expiresInDays = (Number(invited.expiresAt!.seconds) * 1000 - Date.now()) / 86_400_000;
    expect(expiresInDays).toBeGreaterThan(6.9);
    expect(expiresInDays).toBeLessThanOrEqual(7);

    // Alice accepts with no credential at all, then signs in.
    const accepted = await anonymous().users.acceptInvitation({
      invitationCode: invited.invitationCode,
      displayName: "Alice Liddell",
      password: alicePassword,
    });
    expect([accepted.tenantSlug, accepted.member!.email, accepted.member!.role]).toEqual([tenant.slug, aliceEmail, Role.OWNER]);
    const alice = remember(await signIn(srv, aliceEmail, alicePassword));
    expect(alice.token).toMatch(/^ecu_/);
    const me = await alice.client.auth.whoAmI({});
    expect([me.principalType, me.principalId, me.role, me.tenantSlug, me.sessionId]).toEqual([
      "user",
      accepted.member!.userId,
      "owner",
      tenant.slug,
      alice.sessionId,
    ]);
    expect(me.permissions).toContain("users.manage");

    // Alice brings in an admin, who runs the tenant from then on.
    const bob = await person(srv, alice.client, Role.ADMIN);
    await bob.client.projects.allowProject({ name: "web" });
    const { secret } = await bob.client.tokens.createToken({ label: "web-runtime", kind: TokenKind.RUNTIME, projects: ["web"] });
    expect((await srv.client(secret).projects.checkProject({ name: "web" })).allowed).toBe(true);
    const carol = await person(srv, bob.client, Role.VIEWER);
    expect((await carol.client.projects.listProjects({})).projects.map((p) => p.name)).toEqual(["web"]);
    expect((await failureOf(carol.client.users.listMembers({}))).reason).toBe("PERMISSION_DENIED");

    // A role change binds Carol's very next request.
    const changed = (await bob.client.users.setMemberRole({ userId: carol.userId, role: Role.OPERATOR })).member!;
    // The answer is the whole member, as ListMembers shows it.
    expect([
      changed.userId,
      changed.email,
      changed.displayName !== "",
      Role[changed.role],
      changed.createdAt !== undefined,
    ]).toEqual([carol.userId, carol.email, true, "OPERATOR", true]);
    expect((await carol.client.auth.whoAmI({})).role).toBe("operator");
    const members = (await carol.client.users.listMembers({})).members.map((m) => `${m.email} ${Role[m.role]}`);
    expect(members.sort()).toEqual([`${aliceEmail} OWNER`, `${bob.email} ADMIN`, `${carol.email} OPERATOR`].sort());

    // Bob removes Carol: her session stops on its next request, and she cannot sign in again.
    await bob.client.users.removeMember({ userId: carol.userId });
    expect(["unauthenticated", "permission_denied"]).toContain(
      (await failureOf(carol.client.projects.listProjects({}))).codeName,
    );
    expect((await failureOf(signIn(srv, carol.email, carol.password))).reason).toBe("LOGIN_FAILED");
    expect((await alice.client.users.listMembers({})).members.map((m) => m.userId)).not.toContain(carol.userId);
  });
});

describe("signing in", () => {
  it("answers an unknown email and a wrong password with the very same error", async () => {
    const { owner } = await tenantWithOwner();
    const unknown = await failureOf(signIn(srv, uniqueEmail("nobody"), uniquePassword()));
    const wrong = await failureOf(signIn(srv, owner.email, uniquePassword()));
    expect([unknown.codeName, unknown.reason]).toEqual(["unauthenticated", "LOGIN_FAILED"]);
    expect(sameError(wrong)).toEqual(sameError(unknown));
  });

  it("answers the right password for a tenant the person is not in with that same error", async () => {
    const { owner } = await tenantWithOwner();
    const { tenant: other } = await tenantWithOwner();
    const unknown = await failureOf(signIn(srv, uniqueEmail("nobody"), uniquePassword()));
    const elsewhere = await failureOf(signIn(srv, owner.email, owner.password, other.slug));
    expect(sameError(elsewhere)).toEqual(sameError(unknown));
  });

  it("signs a person in with their email in any letter case", async () => {
    const { owner } = await tenantWithOwner();
    const session = remember(await signIn(srv, owner.email.toUpperCase(), owner.password));
    expect((await session.client.auth.whoAmI({})).principalId).toBe(owner.userId);
  });
});

describe("login throttling", () => {
  // A server of its own: the per-source throttle counts every failure from loopback in the process,
  // and the floods here must not slow the other tests' sign-ins.
  let server: TestServer;
  beforeAll(async () => {
    server = throttled = await startTestServer({ env: FAST_PASSWORD_HASH });
  });
  afterAll(() => server?.stop());

  const wrongPasswords = async (email: string, attempts: number) => {
    const answers: CloudErrorDetails[] = [];
    for (let i = 0; i < attempts; i++) answers.push(await failureOf(signIn(server, email, uniquePassword())));
    return answers;
  };

  it("throttles a flood of wrong passwords against one account, saying when to retry", async () => {
    const tenant = await createTestTenant(server);
    const victim = await person(server, tenant.admin, Role.VIEWER);
    const answers = await wrongPasswords(victim.email, 8);
    expect(answers.slice(0, 5).map((a) => a.reason)).toEqual(Array(5).fill("LOGIN_FAILED"));
    const limited = answers.find((a) => a.reason === "LOGIN_THROTTLED");
    expect(limited?.codeName).toBe("resource_exhausted");
    expect(Number(limited?.metadata.retry_after_seconds)).toBeGreaterThanOrEqual(1);
  });

  it("refuses even the right password while the account is throttled", async () => {
    const tenant = await createTestTenant(server);
    const victim = await person(server, tenant.admin, Role.VIEWER);
    await wrongPasswords(victim.email, 6);
    expect((await failureOf(signIn(server, victim.email, victim.password))).reason).toBe("LOGIN_THROTTLED");
  });

  it("lets another person sign in from the same address while one account is flooded", async () => {
    const tenant = await createTestTenant(server);
    const victim = await person(server, tenant.admin, Role.VIEWER);
    const bystander = await person(server, tenant.admin, Role.VIEWER);
    // Bursts of concurrent wrong guesses, as an attacker would send them, with the bystander's sign-in in the middle.
    const flood = Array.from({ length: 40 }, () => failureOf(signIn(server, victim.email, uniquePassword())));
    const session = remember(await signIn(server, bystander.email, bystander.password));
    const answers = await Promise.all(flood);
    expect((await session.client.auth.whoAmI({})).principalId).toBe(bystander.userId);
    expect(answers.filter((a) => a.reason === "LOGIN_THROTTLED").length).toBeGreaterThan(30);
  });

  it("contains a flood over many accounts from one address: others sign in, and so does that address afterwards", async () => {
    // A server of its own, with a hash slow enough and one hashing slot, so the whole burst is in flight at once.
    const office = await startTestServer({
      env: { ENGINE_CLOUD_PASSWORD_HASH_LOG_N: "16", ENGINE_CLOUD_LOGIN_CONCURRENCY: "1" },
    });
    try {
      const tenant = await createTestTenant(office);
      const colleague = await person(office, tenant.admin, Role.VIEWER); // signs in from 127.0.0.1, like the flood
      const elsewhere = await person(office, tenant.admin, Role.VIEWER);
      const fromElsewhere = createCloudClient({
        baseUrl: office.url,
        transport: createConnectTransport({
          baseUrl: office.url,
          httpVersion: "1.1",
          nodeOptions: { localAddress: "127.0.0.2" },
        }),
      });

      const flood = Array.from({ length: 64 }, (_, i) => failureOf(signIn(office, uniqueEmail(`sprayed${i}`), uniquePassword())));
      const signedIn = await fromElsewhere.auth.login({ email: elsewhere.email, password: elsewhere.password, tenant: "" });
      const answers = await Promise.all(flood);
      remember({ token: signedIn.sessionToken });

      // The address may have only a few attempts checked at once; the rest are refused without hashing.
      const checked = answers.filter((a) => a.reason === "LOGIN_FAILED").length;
      expect(answers.every((a) => a.reason === "LOGIN_FAILED" || a.reason === "LOGIN_THROTTLED")).toBe(true);
      expect(checked).toBeGreaterThan(0);
      expect(checked).toBeLessThan(64 - 32);
      // Another address was neither refused nor queued behind the flood.
      expect(signedIn.session?.userId).toBe(elsewhere.userId);
      // The burst counted as a step, not 64 strikes: the address is not locked out for a quarter of an hour.
      const again = await signIn(office, colleague.email, colleague.password);
      expect((await again.client.auth.whoAmI({})).principalId).toBe(colleague.userId);
    } finally {
      await office.stop();
    }
  });

  it("throttles an unknown email exactly as it throttles a known one", async () => {
    // Otherwise the attempt at which throttling starts tells whether an account exists.
    const tenant = await createTestTenant(server);
    const known = await person(server, tenant.admin, Role.VIEWER);
    const knownAnswers = (await wrongPasswords(known.email, 7)).map((a) => `${a.codeName} ${a.reason}`);
    const unknownAnswers = (await wrongPasswords(uniqueEmail("ghost"), 7)).map((a) => `${a.codeName} ${a.reason}`);
    expect(unknownAnswers).toEqual(knownAnswers);
  });

  it("throttles password guesses made through AcceptInvitation as Login throttles them", async () => {
    // Anyone who may invite can invite any email, existing accounts included; accepting
    // then checks that account's password, so it must be as slow to guess through as Login.
    const home = await createTestTenant(server);
    const victim = await person(server, home.admin, Role.VIEWER);
    const elsewhere = await createTestTenant(server);
    const { invitationCode } = await elsewhere.admin.users.inviteUser({ email: victim.email, role: Role.VIEWER });
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) {
      const guess = await failureOf(
        createCloudClient({ baseUrl: server.url }).users.acceptInvitation({ invitationCode, password: uniquePassword() }),
      );
      answers.push(guess.reason);
    }
    expect(answers).toContain("LOGIN_THROTTLED");
  });
});

describe("passwords", () => {
  const invite = async () => {
    const { tenant } = await tenantWithOwner();
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: uniqueEmail(), role: Role.VIEWER });
    secretsHandled.push(invitationCode);
    return invitationCode;
  };
  const accept = async (password: string) =>
    anonymous().users.acceptInvitation({ invitationCode: await invite(), displayName: "Pat", password });

  it("refuses a new password of 11 characters at acceptance, naming the field", async () => {
    const err = await failureOf(accept("a".repeat(11)));
    expect([err.codeName, err.field]).toEqual(["invalid_argument", "password"]);
  });

  it("refuses a password of 1,025 bytes, naming the field", async () => {
    const err = await failureOf(accept("a" + "é".repeat(512)));
    expect([err.codeName, err.field]).toEqual(["invalid_argument", "password"]);
  });

  it("accepts 12 characters, and 1,024 bytes of two-byte characters, and signs in with them", async () => {
    for (const password of ["b".repeat(12), "é".repeat(512)]) {
      const { member } = await accept(password);
      remember(await signIn(srv, member!.email, password));
    }
  });

  it("refuses a new password of 11 characters in ChangePassword, naming the field", async () => {
    const { owner } = await tenantWithOwner();
    const err = await failureOf(
      owner.client.auth.changePassword({ currentPassword: owner.password, newPassword: "c".repeat(11) }),
    );
    expect([err.codeName, err.field]).toEqual(["invalid_argument", "new_password"]);
  });

  it("stores a password only as a salted scrypt hash that the application role cannot read", async () => {
    const { tenant, owner } = await tenantWithOwner();
    const db = srv.server.app.storage.db;
    const { rows } = await sql<{
      password_hash: string;
    }>`SELECT password_hash FROM users WHERE id = ${owner.userId}::uuid`.execute(db);
    expect(rows[0].password_hash).toMatch(/^scrypt\$14\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(rows[0].password_hash).not.toContain(owner.password);
    const asApp = db.transaction().execute(async (tx) => {
      await sql`SELECT set_config('role', 'engine_app', true), set_config('engine.tenant_id', ${tenant.id}, true)`.execute(tx);
      return sql`SELECT password_hash FROM users`.execute(tx);
    });
    await expect(asApp).rejects.toMatchObject({ code: "42501" }); // insufficient_privilege
  });
});

describe("invitations", () => {
  it("works once: the second acceptance of a code finds nothing", async () => {
    const { tenant } = await tenantWithOwner();
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: uniqueEmail(), role: Role.VIEWER });
    secretsHandled.push(invitationCode);
    const password = uniquePassword();
    secretsHandled.push(password);
    await anonymous().users.acceptInvitation({ invitationCode, displayName: "Once", password });
    const again = await failureOf(anonymous().users.acceptInvitation({ invitationCode, displayName: "Twice", password }));
    expect([again.codeName, again.reason]).toEqual(["not_found", "INVITATION_INVALID"]);
  });

  it("stops working once expired", async () => {
    const { tenant } = await tenantWithOwner();
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: uniqueEmail(), role: Role.VIEWER });
    secretsHandled.push(invitationCode);
    // Seven days are not waited for: the expiry is moved into the past, as time would.
    await sql`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE tenant_id = ${tenant.id}::uuid`.execute(
      srv.server.app.storage.db,
    );
    const err = await failureOf(
      anonymous().users.acceptInvitation({ invitationCode, displayName: "Late", password: uniquePassword() }),
    );
    expect([err.codeName, err.reason]).toEqual(["not_found", "INVITATION_INVALID"]);
  });

  it("is not a credential", async () => {
    const { tenant } = await tenantWithOwner();
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: uniqueEmail(), role: Role.ADMIN });
    secretsHandled.push(invitationCode);
    const err = await failureOf(srv.client(invitationCode).auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_INVALID"]);
  });

  it("lets a person who has an account join another tenant with their current password only", async () => {
    const { owner } = await tenantWithOwner();
    const { tenant: second } = await tenantWithOwner();
    const { invitationCode } = await second.admin.users.inviteUser({ email: owner.email, role: Role.VIEWER });
    secretsHandled.push(invitationCode);
    const wrong = await failureOf(anonymous().users.acceptInvitation({ invitationCode, password: uniquePassword() }));
    expect([wrong.codeName, wrong.reason]).toEqual(["permission_denied", "WRONG_PASSWORD"]);
    const joined = await anonymous().users.acceptInvitation({ invitationCode, password: owner.password });
    expect([joined.tenantSlug, joined.member!.userId]).toEqual([second.slug, owner.userId]);
  });
});

describe("owners", () => {
  it("does not let an admin invite an owner", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const err = await failureOf(admin.client.users.inviteUser({ email: uniqueEmail(), role: Role.OWNER }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "OWNER_REQUIRED"]);
  });

  it("does not let an admin promote anyone, themselves included, to owner", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const viewer = await person(srv, owner.client, Role.VIEWER);
    for (const userId of [admin.userId, viewer.userId]) {
      const err = await failureOf(admin.client.users.setMemberRole({ userId, role: Role.OWNER }));
      expect([err.codeName, err.reason]).toEqual(["permission_denied", "OWNER_REQUIRED"]);
    }
  });

  it("does not let an admin demote or remove an owner", async () => {
    const { owner } = await tenantWithOwner();
    await person(srv, owner.client, Role.OWNER); // not the last owner: only the owner rule can refuse
    const admin = await person(srv, owner.client, Role.ADMIN);
    const demote = await failureOf(admin.client.users.setMemberRole({ userId: owner.userId, role: Role.VIEWER }));
    const remove = await failureOf(admin.client.users.removeMember({ userId: owner.userId }));
    expect([demote.reason, remove.reason]).toEqual(["OWNER_REQUIRED", "OWNER_REQUIRED"]);
    expect(await roleOf(owner.client, owner.userId)).toBe(Role.OWNER);
  });

  it("does not let an admin become owner through a tenant admin token they mint", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const minted = await admin.client.tokens.createToken({ label: "side-door", kind: TokenKind.TENANT_ADMIN }).then(
      (r) => r.secret,
      () => undefined,
    );
    if (minted) {
      const err = await failureOf(srv.client(minted).users.setMemberRole({ userId: admin.userId, role: Role.OWNER }));
      expect(err.codeName).toBe("permission_denied");
    }
    expect(await roleOf(owner.client, admin.userId)).toBe(Role.ADMIN);
  });

  it("refuses to demote the last owner", async () => {
    const { owner } = await tenantWithOwner();
    const err = await failureOf(owner.client.users.setMemberRole({ userId: owner.userId, role: Role.ADMIN }));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "LAST_OWNER"]);
  });

  it("refuses to remove the last owner", async () => {
    const { owner } = await tenantWithOwner();
    const err = await failureOf(owner.client.users.removeMember({ userId: owner.userId }));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "LAST_OWNER"]);
  });

  it("lets an owner hand the tenant over: promote another, then step down", async () => {
    const { owner } = await tenantWithOwner();
    const successor = await person(srv, owner.client, Role.ADMIN);
    await owner.client.users.setMemberRole({ userId: successor.userId, role: Role.OWNER });
    await owner.client.users.setMemberRole({ userId: owner.userId, role: Role.ADMIN });
    expect(await roleOf(successor.client, owner.userId)).toBe(Role.ADMIN);
    expect((await successor.client.auth.whoAmI({})).role).toBe("owner");
  });
});

describe("sessions", () => {
  it("moves a person who belongs to two tenants from one to the other, ending the old session", async () => {
    const { tenant: first, owner } = await tenantWithOwner();
    const { tenant: second } = await tenantWithOwner();
    const { invitationCode } = await second.admin.users.inviteUser({ email: owner.email, role: Role.VIEWER });
    await anonymous().users.acceptInvitation({ invitationCode, password: owner.password });
    expect((await owner.client.auth.whoAmI({})).tenantId).toBe(first.id);

    const switched = await owner.client.auth.switchTenant({ tenant: second.slug });
    secretsHandled.push(switched.sessionToken);
    const me = await srv.client(switched.sessionToken).auth.whoAmI({});
    expect([me.tenantId, me.role, me.principalId]).toEqual([second.id, "viewer", owner.userId]);
    expect((await failureOf(owner.client.auth.whoAmI({}))).reason).toBe("SESSION_REVOKED");
  });

  it("refuses to switch to a tenant the person is not a member of", async () => {
    const { owner } = await tenantWithOwner();
    const { tenant: stranger } = await tenantWithOwner();
    const err = await failureOf(owner.client.auth.switchTenant({ tenant: stranger.slug }));
    expect(err.codeName).toBe("permission_denied");
    expect((await owner.client.auth.whoAmI({})).principalId).toBe(owner.userId);
  });

  it("lists the person's own open sessions, marking the current one, and never their tokens", async () => {
    const { owner } = await tenantWithOwner();
    const laptop = remember(await signIn(srv, owner.email, owner.password));
    const { sessions } = await owner.client.auth.listSessions({});
    expect(sessions.map((s) => [s.id, s.current])).toEqual([
      [laptop.sessionId, false],
      [owner.sessionId, true],
    ]);
    expect(sessions.map((s) => s.displayPrefix)).toEqual([laptop.token.slice(0, 8), owner.token.slice(0, 8)]);
    const listed = renderForLeakCheck(sessions);
    for (const token of [laptop.token, owner.token]) expect(listed).not.toContain(token.slice(8));
  });

  it("revokes one of the person's own sessions, and nobody else's", async () => {
    const { tenant, owner } = await tenantWithOwner();
    const laptop = remember(await signIn(srv, owner.email, owner.password));
    const other = await person(srv, tenant.admin, Role.ADMIN);
    const notMine = await failureOf(owner.client.auth.revokeSession({ id: other.sessionId }));
    expect([notMine.codeName, notMine.reason]).toEqual(["not_found", "SESSION_NOT_FOUND"]);
    expect((await other.client.auth.whoAmI({})).principalId).toBe(other.userId);

    await owner.client.auth.revokeSession({ id: laptop.sessionId });
    expect((await failureOf(laptop.client.auth.whoAmI({}))).reason).toBe("SESSION_REVOKED");
    expect((await owner.client.auth.listSessions({})).sessions.map((s) => s.id)).toEqual([owner.sessionId]);
  });

  it("ends the session on Logout", async () => {
    const { owner } = await tenantWithOwner();
    await owner.client.auth.logout({});
    const err = await failureOf(owner.client.auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "SESSION_REVOKED"]);
  });

  it("ends every other session when the password changes, and only the new password signs in", async () => {
    const { owner } = await tenantWithOwner();
    const laptop = remember(await signIn(srv, owner.email, owner.password));
    const newPassword = uniquePassword();
    secretsHandled.push(newPassword);
    await owner.client.auth.changePassword({ currentPassword: owner.password, newPassword });
    expect((await failureOf(laptop.client.auth.whoAmI({}))).reason).toBe("SESSION_REVOKED");
    expect((await owner.client.auth.whoAmI({})).principalId).toBe(owner.userId);
    expect((await failureOf(signIn(srv, owner.email, owner.password))).reason).toBe("LOGIN_FAILED");
    remember(await signIn(srv, owner.email, newPassword));
  });

  it("refuses a password change with a wrong current password", async () => {
    const { owner } = await tenantWithOwner();
    const err = await failureOf(
      owner.client.auth.changePassword({ currentPassword: uniquePassword(), newPassword: uniquePassword() }),
    );
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "WRONG_PASSWORD"]);
    remember(await signIn(srv, owner.email, owner.password));
  });

  it("stores a session token only as a keyed hash: no column holds the token", async () => {
    const { owner } = await tenantWithOwner();
    const db = srv.server.app.storage.db;
    const { rows } = await sql<Record<string, unknown>>`SELECT * FROM sessions WHERE id = ${owner.sessionId}::uuid`.execute(db);
    expect(rows).toHaveLength(1);
    const stored = renderForLeakCheck(rows);
    expect(stored).not.toContain(owner.token.slice(8));
    const expected = createHmac("sha256", srv.server.app.bootstrap.tokenKey).update(owner.token).digest();
    expect(Buffer.from(rows[0].secret_hash as Uint8Array).equals(expected)).toBe(true);
  });
});

describe("removing, disabling, suspending", () => {
  it("tells a removed member why their session stopped: MEMBERSHIP_REMOVED", async () => {
    const { owner } = await tenantWithOwner();
    const member = await person(srv, owner.client, Role.ADMIN);
    await member.client.auth.whoAmI({});
    await owner.client.users.removeMember({ userId: member.userId });
    const err = await failureOf(member.client.auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "MEMBERSHIP_REMOVED"]);
  });

  it("keeps a removed member's sessions in their other tenants", async () => {
    const { owner } = await tenantWithOwner();
    const { tenant: second } = await tenantWithOwner();
    const member = await person(srv, owner.client, Role.ADMIN);
    const { invitationCode } = await second.admin.users.inviteUser({ email: member.email, role: Role.VIEWER });
    await anonymous().users.acceptInvitation({ invitationCode, password: member.password });
    const there = remember(await signIn(srv, member.email, member.password, second.slug));
    await owner.client.users.removeMember({ userId: member.userId });
    expect((await there.client.auth.whoAmI({})).tenantId).toBe(second.id);
  });

  it("lets a platform administrator disable a person: every session in every tenant ends, and sign-in is refused", async () => {
    const { tenant: first, owner } = await tenantWithOwner();
    const { tenant: second } = await tenantWithOwner();
    const { invitationCode } = await second.admin.users.inviteUser({ email: owner.email, role: Role.ADMIN });
    await anonymous().users.acceptInvitation({ invitationCode, password: owner.password });
    const there = remember(await signIn(srv, owner.email, owner.password, second.slug));

    await srv.admin().users.disableUser({ userId: owner.userId });
    for (const session of [owner, there])
      expect((await failureOf(session.client.auth.whoAmI({}))).codeName).toBe("unauthenticated");
    const login = await failureOf(signIn(srv, owner.email, owner.password));
    const unknown = await failureOf(signIn(srv, uniqueEmail("nobody"), uniquePassword()));
    expect(sameError(login)).toEqual(sameError(unknown));
    const listed = await first.admin.users.listMembers({});
    expect(listed.members.find((m) => m.userId === owner.userId)?.disabled).toBe(true);
  });

  it("tells a disabled person why their session stopped: USER_DISABLED", async () => {
    const { owner } = await tenantWithOwner();
    await owner.client.auth.whoAmI({});
    await srv.admin().users.disableUser({ userId: owner.userId });
    const err = await failureOf(owner.client.auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "USER_DISABLED"]);
  });

  it("does not let a tenant owner disable anyone", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const err = await failureOf(owner.client.users.disableUser({ userId: admin.userId }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
    expect((await admin.client.auth.whoAmI({})).principalId).toBe(admin.userId);
  });

  it("refuses the people of a suspended tenant on their next request, and serves their sessions again on resume", async () => {
    const { tenant, owner } = await tenantWithOwner();
    await owner.client.auth.whoAmI({});
    await srv.admin().tenants.suspendTenant({ tenant: tenant.slug });
    const err = await failureOf(owner.client.auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "TENANT_SUSPENDED"]);
    expect((await failureOf(signIn(srv, owner.email, owner.password, tenant.slug))).reason).toBe("LOGIN_FAILED");
    await srv.admin().tenants.resumeTenant({ tenant: tenant.slug });
    expect((await owner.client.auth.whoAmI({})).tenantId).toBe(tenant.id);
  });
});

describe("row-level security for people (defence in depth)", () => {
  /** Tables of the schema with row-level security on, from the catalog, and whether each has a tenant_id. */
  async function rowSecuredTables(): Promise<Array<{ name: string; tenantOwned: boolean }>> {
    const { rows } = await sql<{ name: string; tenant_owned: boolean }>`
      SELECT c.relname AS name,
             EXISTS (SELECT 1 FROM information_schema.columns k
                     WHERE k.table_schema = n.nspname AND k.table_name = c.relname AND k.column_name = 'tenant_id') AS tenant_owned
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relrowsecurity
      ORDER BY c.relname`.execute(srv.server.app.storage.db);
    return rows.map((r) => ({ name: r.name, tenantOwned: r.tenant_owned }));
  }

  /**
   * The owning tenant of each row, as a query: tenant-owned tables by their
   * tenant_id, tenants by their id, and people by their memberships. A new
   * row-secured table with none of these fails the test until it is taught here.
   */
  function ownerColumn(table: { name: string; tenantOwned: boolean }): string {
    if (table.tenantOwned) return "tenant_id::text";
    if (table.name === "tenants") return "id::text";
    if (table.name === "users") return "(SELECT string_agg(m.tenant_id::text, ',') FROM memberships m WHERE m.user_id = t.id)";
    throw new Error(`row-secured table ${table.name} has no known owner: teach this test how its rows belong to tenants`);
  }

  /** The keys of the rows the application role sees acting for `tenantId`: tenant ids, or ids for tenants and users. */
  async function keysSeenByApp(table: { name: string; tenantOwned: boolean }, tenantId: string): Promise<string[]> {
    const keyColumn = table.tenantOwned ? "tenant_id" : "id";
    return srv.server.app.storage.db.transaction().execute(async (tx) => {
      await sql`SELECT set_config('role', 'engine_app', true), set_config('engine.tenant_id', ${tenantId}, true)`.execute(tx);
      const { rows } = await sql<{ k: string }>`SELECT ${sql.ref(keyColumn)}::text AS k FROM ${sql.table(table.name)}`.execute(
        tx,
      );
      return rows.map((r) => r.k);
    });
  }

  /** For each row the application role sees acting for `tenantId`: the tenant(s) that own it, comma-separated. */
  async function ownersSeenByApp(table: { name: string; tenantOwned: boolean }, tenantId: string): Promise<string[]> {
    const keys = await keysSeenByApp(table, tenantId);
    if (table.name !== "users" || keys.length === 0) return keys;
    // People belong to tenants through memberships, looked up as the owner: the app role cannot see other tenants'.
    const { rows } = await sql<{ owner: string | null }>`
      SELECT ${sql.raw(ownerColumn(table))} AS owner FROM users t WHERE t.id::text = ANY(${keys}::text[])`.execute(
      srv.server.app.storage.db,
    );
    return rows.map((r) => r.owner ?? "");
  }

  async function rowsOwnedBy(table: { name: string; tenantOwned: boolean }, tenantId: string): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${sql.table(table.name)} t
      WHERE ${sql.raw(ownerColumn(table))} LIKE ${"%" + tenantId + "%"}`.execute(srv.server.app.storage.db);
    return rows[0].n;
  }

  it("covers the people tables: users, memberships, sessions and invitations are row-secured", async () => {
    const names = (await rowSecuredTables()).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["users", "memberships", "sessions", "invitations", "tenants", "tokens"]));
  });

  it("shows the application role acting for one tenant no person, membership, session or invitation of another", async () => {
    const { tenant: a } = await tenantWithOwner();
    const { tenant: b, owner: bOwner } = await tenantWithOwner();
    await person(srv, bOwner.client, Role.VIEWER);
    await bOwner.client.users.inviteUser({ email: uniqueEmail("pending"), role: Role.OPERATOR });
    const problems: string[] = [];
    for (const table of await rowSecuredTables()) {
      if ((await rowsOwnedBy(table, b.id)) === 0 && ["users", "memberships", "sessions", "invitations"].includes(table.name)) {
        problems.push(`${table.name}: beta has no row, so the check proves nothing`);
      }
      const foreign = (await ownersSeenByApp(table, a.id)).filter((owner) => !owner.split(",").includes(a.id));
      if (foreign.length > 0) problems.push(`${table.name}: the app role acting for A sees ${foreign.length} row(s) not A's`);
    }
    expect(problems).toEqual([]);
  });

  it("still shows the application role its own tenant's people (the check above is not vacuous)", async () => {
    const { tenant, owner } = await tenantWithOwner();
    expect(await keysSeenByApp({ name: "users", tenantOwned: false }, tenant.id)).toEqual([owner.userId]);
    expect(await keysSeenByApp({ name: "sessions", tenantOwned: true }, tenant.id)).toEqual([tenant.id]);
    expect(await keysSeenByApp({ name: "memberships", tenantOwned: true }, tenant.id)).toEqual([tenant.id]);
  });
});

describe("invitations: listed, revoked, and no stronger than whoever issued them", () => {
  /** An invitation by `inviter`, its code remembered for the log check. */
  const inviteBy = async (inviter: TestPerson["client"], role: Role, email = uniqueEmail()) => {
    const { invitationCode } = await inviter.users.inviteUser({ email, role });
    secretsHandled.push(invitationCode);
    return invitationCode;
  };
  const acceptNew = (invitationCode: string) => {
    const password = uniquePassword();
    secretsHandled.push(password);
    return anonymous().users.acceptInvitation({ invitationCode, displayName: "Newcomer", password });
  };

  it("lists open invitations newest first with email, role, issuer, creation and expiry, and never their codes", async () => {
    const { owner } = await tenantWithOwner();
    const emails = [uniqueEmail("first"), uniqueEmail("second"), uniqueEmail("third")];
    const codes = [];
    for (const email of emails) codes.push(await inviteBy(owner.client, Role.OPERATOR, email));
    const first = await owner.client.users.listInvitations({ pageSize: 2 });
    const rest = await owner.client.users.listInvitations({ pageSize: 2, pageToken: first.nextPageToken });
    const listed = [...first.invitations, ...rest.invitations];
    expect(rest.nextPageToken).toBe("");
    expect(listed.map((i) => i.email)).toEqual([...emails].reverse());
    const [one] = listed;
    expect([one.role, one.state, one.createdBy]).toEqual([Role.OPERATOR, InvitationState.PENDING, `user:${owner.userId}`]);
    expect(Number(one.expiresAt!.seconds) - Number(one.createdAt!.seconds)).toBe(7 * 86_400);
    const said = renderForLeakCheck([first, rest]);
    for (const code of codes) expect(said).not.toContain(code);
  });

  it("revokes an invitation: its code stops working at once, and the list shows it revoked", async () => {
    const { owner } = await tenantWithOwner();
    const code = await inviteBy(owner.client, Role.VIEWER);
    const [open] = (await owner.client.users.listInvitations({})).invitations;
    const { invitation } = await owner.client.users.revokeInvitation({ id: open.id });
    expect([invitation!.state, invitation!.revokedBy]).toEqual([InvitationState.REVOKED, `user:${owner.userId}`]);
    const err = await failureOf(acceptNew(code));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "INVITATION_REVOKED"]);
    expect((await owner.client.users.listInvitations({})).invitations).toEqual([]);
    const all = (await owner.client.users.listInvitations({ showInactive: true })).invitations;
    expect(all.find((i) => i.id === open.id)?.state).toBe(InvitationState.REVOKED);
  });

  it("refuses to revoke an accepted invitation, pointing at removing the member", async () => {
    const { owner } = await tenantWithOwner();
    await acceptNew(await inviteBy(owner.client, Role.VIEWER));
    const [accepted] = (await owner.client.users.listInvitations({ showInactive: true })).invitations;
    expect(accepted.state).toBe(InvitationState.ACCEPTED);
    const err = await failureOf(owner.client.users.revokeInvitation({ id: accepted.id }));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "INVITATION_ACCEPTED"]);
  });

  it("does not let a removed admin re-enter with an admin invitation they issued to themselves before the removal", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const backdoor = await inviteBy(admin.client, Role.ADMIN, admin.email);
    await owner.client.users.removeMember({ userId: admin.userId });
    const err = await failureOf(anonymous().users.acceptInvitation({ invitationCode: backdoor, password: admin.password }));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "INVITATION_ISSUER_LOST_RIGHT"]);
    expect((await owner.client.users.listMembers({})).members.map((m) => m.userId)).not.toContain(admin.userId);
    const [dead] = (await owner.client.users.listInvitations({ showInactive: true })).invitations;
    expect([dead.state, dead.revokedBy]).toEqual([InvitationState.REVOKED, "issuer-lost-right"]);
  });

  it("checks the issuer's right at acceptance itself, not only when the right is taken away", async () => {
    // As for an invitation issued before revocation on removal existed: nothing marked it, the acceptance must still refuse.
    const { tenant, owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const code = await inviteBy(admin.client, Role.ADMIN);
    await owner.client.users.removeMember({ userId: admin.userId });
    await sql`UPDATE invitations SET revoked_at = NULL, revoked_by = NULL WHERE tenant_id = ${tenant.id}::uuid`.execute(
      srv.server.app.storage.db,
    );
    expect((await failureOf(acceptNew(code))).reason).toBe("INVITATION_ISSUER_LOST_RIGHT");
  });

  it("kills an admin's invitations when the admin is demoted below what they grant, and keeps those still in reach", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const adminInvite = await inviteBy(admin.client, Role.ADMIN);
    await owner.client.users.setMemberRole({ userId: admin.userId, role: Role.VIEWER });
    const err = await failureOf(acceptNew(adminInvite));
    expect([err.codeName, err.reason]).toEqual(["failed_precondition", "INVITATION_ISSUER_LOST_RIGHT"]);
  });

  it("kills a demoted owner's owner invitations, not their admin ones", async () => {
    const { owner } = await tenantWithOwner();
    const second = await person(srv, owner.client, Role.OWNER);
    const ownerInvite = await inviteBy(second.client, Role.OWNER);
    const adminInvite = await inviteBy(second.client, Role.ADMIN);
    await owner.client.users.setMemberRole({ userId: second.userId, role: Role.ADMIN });
    expect((await failureOf(acceptNew(ownerInvite))).reason).toBe("INVITATION_ISSUER_LOST_RIGHT");
    expect((await acceptNew(adminInvite)).member!.role).toBe(Role.ADMIN);
  });

  it("kills the invitations a token issued when the token is revoked", async () => {
    const { owner } = await tenantWithOwner();
    const { secret, token } = await owner.client.tokens.createToken({ label: "hr-bot", kind: TokenKind.TENANT_ADMIN });
    const code = await inviteBy(srv.client(secret), Role.VIEWER);
    await owner.client.tokens.revokeToken({ id: token!.id });
    expect((await failureOf(acceptNew(code))).reason).toBe("INVITATION_ISSUER_LOST_RIGHT");
  });

  it("lets only an owner revoke an owner invitation", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    await inviteBy(owner.client, Role.OWNER);
    const [open] = (await admin.client.users.listInvitations({})).invitations;
    const err = await failureOf(admin.client.users.revokeInvitation({ id: open.id }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "OWNER_REQUIRED"]);
  });

  it("answers an unknown invitation id with NOT_FOUND", async () => {
    const { owner } = await tenantWithOwner();
    const err = await failureOf(owner.client.users.revokeInvitation({ id: "00000000-0000-4000-8000-000000000000" }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "INVITATION_NOT_FOUND"]);
  });
});

describe("accepting an invitation as an existing member", () => {
  it("never lowers a role: the only owner accepting an admin's viewer invitation stays owner, refused ALREADY_MEMBER", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const { invitationCode } = await admin.client.users.inviteUser({ email: owner.email, role: Role.VIEWER });
    secretsHandled.push(invitationCode);
    const err = await failureOf(anonymous().users.acceptInvitation({ invitationCode, password: owner.password }));
    expect([err.codeName, err.reason]).toEqual(["already_exists", "ALREADY_MEMBER"]);
    expect(await roleOf(admin.client, owner.userId)).toBe(Role.OWNER);
    expect((await owner.client.auth.whoAmI({})).role).toBe("owner");
  });

  it("raises a member's role when the invitation grants more", async () => {
    const { owner } = await tenantWithOwner();
    const viewer = await person(srv, owner.client, Role.VIEWER);
    const { invitationCode } = await owner.client.users.inviteUser({ email: viewer.email, role: Role.ADMIN });
    secretsHandled.push(invitationCode);
    const { member } = await anonymous().users.acceptInvitation({ invitationCode, password: viewer.password });
    expect(member!.role).toBe(Role.ADMIN);
    expect(await roleOf(owner.client, viewer.userId)).toBe(Role.ADMIN);
  });
});

describe("invitation codes: checked before the database, guesses throttled", () => {
  // A server of its own: the per-address throttle counts every failure from loopback in the process.
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: FAST_PASSWORD_HASH });
  });
  afterAll(() => server?.stop());
  const accept = (invitationCode: string, via = createCloudClient({ baseUrl: server.url })) =>
    via.users.acceptInvitation({ invitationCode, displayName: "Guess", password: uniquePassword() });
  /** Well-formed codes with a checksum the server's key did not make, and shapes that are not codes at all. */
  const forged = (i: number) =>
    i % 2 === 0 ? `eci_${randomBytes(40).toString("base64url").replace(/[-_]/g, "x").slice(0, 49)}` : `not-a-code-${i}`;

  it("refuses made-up codes without touching the database", async () => {
    const db = server.server.app.storage.db;
    // The invitations table is locked, and on PGlite the one connection held, while the forgeries arrive:
    // any of them that reached the database would wait here until the test gave up.
    const answers = await db.transaction().execute(async (tx) => {
      await sql`LOCK TABLE invitations IN ACCESS EXCLUSIVE MODE`.execute(tx);
      const flood = Promise.all(Array.from({ length: 10 }, (_, i) => failureOf(accept(forged(i)))));
      const gaveUp = new Promise<"reached the database">((r) => setTimeout(() => r("reached the database"), 15_000).unref());
      return Promise.race([flood, gaveUp]);
    });
    expect(answers).not.toBe("reached the database");
    expect((answers as CloudErrorDetails[]).map((a) => `${a.codeName} ${a.reason}`)).toEqual(
      Array(10).fill("not_found INVITATION_INVALID"),
    );
  });

  it("throttles a flood of made-up codes from one address, saying when to retry, and still accepts a genuine code from another", async () => {
    const tenant = await createTestTenant(server);
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: uniqueEmail(), role: Role.VIEWER });
    secretsHandled.push(invitationCode);
    const answers: CloudErrorDetails[] = [];
    for (let i = 0; i < 40; i++) answers.push(await failureOf(accept(forged(i))));
    const limited = answers.find((a) => a.reason === "INVITATION_THROTTLED");
    expect(limited?.codeName).toBe("resource_exhausted");
    expect(Number(limited?.metadata.retry_after_seconds)).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.reason === "INVITATION_THROTTLED").length).toBeGreaterThan(10);
    // Even a genuine code waits out the delay from the flooding address, but not from another one.
    expect((await failureOf(accept(invitationCode))).reason).toBe("INVITATION_THROTTLED");
    const elsewhere = createCloudClient({
      baseUrl: server.url,
      transport: createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: { localAddress: "127.0.0.2" } }),
    });
    expect((await accept(invitationCode, elsewhere)).tenantSlug).toBe(tenant.slug);
  });
});

describe("tokens a person minted end with the person's right to mint them", () => {
  const works = async (secret: string) =>
    srv
      .client(secret)
      .auth.whoAmI({})
      .then(
        () => "works",
        (e) => describeCloudError(e).reason,
      );

  it("revokes at once the tokens a removed admin minted, and the tokens minted with those, and no one else's", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const minted = await admin.client.tokens.createToken({ label: "admin-made", kind: TokenKind.TENANT_ADMIN });
    const grandchild = await srv.client(minted.secret).tokens.createToken({ label: "made-by-token", kind: TokenKind.RUNTIME });
    const ownersOwn = await owner.client.tokens.createToken({ label: "owner-made", kind: TokenKind.RUNTIME });
    for (const t of [minted, grandchild, ownersOwn]) expect(await works(t.secret)).toBe("works");
    await owner.client.users.removeMember({ userId: admin.userId });
    expect(await works(minted.secret)).toBe("TOKEN_REVOKED");
    expect(await works(grandchild.secret)).toBe("TOKEN_REVOKED");
    expect(await works(ownersOwn.secret)).toBe("works");
  });

  it("revokes the tokens of a person disabled platform-wide, in every tenant", async () => {
    const { owner } = await tenantWithOwner();
    const { tenant: second } = await tenantWithOwner();
    const { invitationCode } = await second.admin.users.inviteUser({ email: owner.email, role: Role.ADMIN });
    secretsHandled.push(invitationCode);
    await anonymous().users.acceptInvitation({ invitationCode, password: owner.password });
    const there = remember(await signIn(srv, owner.email, owner.password, second.slug));
    const here = await owner.client.tokens.createToken({ label: "here", kind: TokenKind.RUNTIME });
    const elsewhere = await there.client.tokens.createToken({ label: "there", kind: TokenKind.RUNTIME });
    await srv.admin().users.disableUser({ userId: owner.userId });
    expect([await works(here.secret), await works(elsewhere.secret)]).toEqual(["TOKEN_REVOKED", "TOKEN_REVOKED"]);
  });

  it("revokes on a demotion the tokens the new role could not mint, and keeps them on an owner's move to admin", async () => {
    const { owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const second = await person(srv, owner.client, Role.OWNER);
    const adminMade = await admin.client.tokens.createToken({ label: "a", kind: TokenKind.RUNTIME });
    const ownerMade = await second.client.tokens.createToken({ label: "o", kind: TokenKind.TENANT_ADMIN });
    await owner.client.users.setMemberRole({ userId: admin.userId, role: Role.OPERATOR });
    await owner.client.users.setMemberRole({ userId: second.userId, role: Role.ADMIN });
    expect([await works(adminMade.secret), await works(ownerMade.secret)]).toEqual(["TOKEN_REVOKED", "works"]);
  });
});

describe("secrets stay secret", () => {
  it("puts no password, session token or invitation code in an error message", async () => {
    const { tenant, owner } = await tenantWithOwner();
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: uniqueEmail(), role: Role.VIEWER });
    const badPassword = uniquePassword();
    secretsHandled.push(invitationCode, badPassword);
    await anonymous().users.acceptInvitation({ invitationCode, displayName: "Used", password: uniquePassword() });
    const revoked = remember(await signIn(srv, owner.email, owner.password));
    await revoked.client.auth.logout({});
    const errors = await Promise.all([
      failureOf(signIn(srv, owner.email, badPassword)),
      failureOf(anonymous().users.acceptInvitation({ invitationCode, displayName: "Again", password: badPassword })),
      failureOf(
        anonymous().users.acceptInvitation({ invitationCode: invitationCode.slice(0, -1), displayName: "x", password: "short" }),
      ),
      failureOf(revoked.client.auth.whoAmI({})),
      failureOf(srv.client(revoked.token.slice(0, -1) + "x").auth.whoAmI({})),
      failureOf(owner.client.auth.changePassword({ currentPassword: badPassword, newPassword: badPassword })),
    ]);
    const said = renderForLeakCheck(errors);
    for (const secret of [badPassword, owner.password, invitationCode, revoked.token, revoked.token.slice(8)]) {
      expect(said).not.toContain(secret);
    }
  });

  it("lists members, sessions and identities without any password, session token or invitation code", async () => {
    const { tenant, owner } = await tenantWithOwner();
    const admin = await person(srv, owner.client, Role.ADMIN);
    const outputs = renderForLeakCheck([
      await owner.client.users.listMembers({}),
      await tenant.admin.users.listMembers({}),
      await owner.client.auth.listSessions({}),
      await admin.client.auth.listSessions({}),
      await owner.client.auth.whoAmI({}),
    ]);
    for (const p of [owner, admin]) {
      for (const secret of [p.password, p.token.slice(8), p.invitationCode]) expect(outputs).not.toContain(secret);
    }
    expect(outputs).not.toContain("scrypt$");
  });

  it("never writes a password, session token or invitation code this suite used to the server log", () => {
    expect(secretsHandled.length).toBeGreaterThan(50);
    const log = [...srv.logs, ...(throttled?.logs ?? [])].join("\n");
    expect(log).toContain("AuthService/Login");
    expect(log).toContain("UserService/AcceptInvitation");
    const leaked = secretsHandled.filter((s) => log.includes(s));
    expect(leaked).toEqual([]);
  });
});
