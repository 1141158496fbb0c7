import { Role, TokenKind } from "@engine-cloud/api";
import { errorReason, type CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { onPostgres } from "./support/test-database.js";
import { on, startServerPair, type ServerPair } from "./support/server-pair.js";
import { addPerson, FAST_PASSWORD_HASH, signIn, uniquePassword, type SignedIn, type TestPerson } from "./support/test-people.js";
import { randomSeedToken, type ServerProcess } from "./support/test-server.js";
import { isCaughtUp, recordWatch } from "./support/watch-recorder.js";

// Two server processes on one PostgreSQL database, as behind a load balancer.
// Whatever takes a person's access away through A — removing their
// membership, lowering their role, disabling them, ending their session,
// suspending their tenant — binds on B at its very next request, and ends
// their open Watch streams on B within a second. No test waits between the
// change and that request.

let pair: ServerPair;
let a: ServerProcess;
let b: ServerProcess;
const adminToken = randomSeedToken();

beforeAll(async () => {
  if (!onPostgres) return;
  pair = await startServerPair(adminToken, { ...FAST_PASSWORD_HASH });
  ({ a, b } = pair);
}, 120_000);
afterAll(() => pair?.stop());

const WATCHED_PROJECT = "live";

interface PeopleTenant {
  slug: string;
  owner: TestPerson;
  /** An admin, signed in: the person whose access each test takes away. */
  admin: TestPerson;
  /** A second session of the admin's, through A. */
  adminElsewhere: SignedIn;
}

let counter = 0;
/** A tenant of the test's own, made through A: an owner, an admin signed in twice, an allowed project. */
async function peopleTenant(): Promise<PeopleTenant> {
  const slug = `people-${++counter}-${process.pid}`;
  await on(a, adminToken).tenants.createTenant({ slug });
  const owner = await addPerson(a, on(a, adminToken, slug), Role.OWNER);
  const admin = await addPerson(a, owner.client, Role.ADMIN, { signInVia: b });
  const adminElsewhere = await signIn(a, admin.email, admin.password);
  await owner.client.projects.allowProject({ name: WATCHED_PROJECT });
  return { slug, owner, admin, adminElsewhere };
}

/** What each kind of revocation does through A, and the reason B must give for it. */
const REVOCATIONS: Array<{ kind: string; reason: string; revoke: (t: PeopleTenant) => Promise<unknown> }> = [
  {
    kind: "the membership is removed",
    reason: "MEMBERSHIP_REMOVED",
    revoke: (t) => t.owner.client.users.removeMember({ userId: t.admin.userId }),
  },
  {
    kind: "the person is disabled",
    reason: "USER_DISABLED",
    revoke: (t) => on(a, adminToken).users.disableUser({ userId: t.admin.userId }),
  },
  {
    kind: "the session is revoked from another session",
    reason: "SESSION_REVOKED",
    revoke: (t) => t.adminElsewhere.client.auth.revokeSession({ id: t.admin.sessionId }),
  },
  {
    kind: "the session logs out",
    reason: "SESSION_REVOKED",
    revoke: (t) => on(a, t.admin.token).auth.logout({}),
  },
  {
    kind: "the password is changed from another session",
    reason: "SESSION_REVOKED",
    revoke: (t) =>
      t.adminElsewhere.client.auth.changePassword({ currentPassword: t.admin.password, newPassword: uniquePassword() }),
  },
  {
    kind: "the tenant is suspended",
    reason: "TENANT_SUSPENDED",
    revoke: (t) => on(a, adminToken).tenants.suspendTenant({ tenant: t.slug }),
  },
];

/** Opens a Watch with `client`, takes its access away with `revoke`, and expects the stream refused within a second. */
async function expectWatchEndedWithinASecond(client: CloudClient, revoke: () => Promise<unknown>) {
  const watch = recordWatch(client, { project: WATCHED_PROJECT });
  try {
    await watch.until(isCaughtUp);
    await revoke();
    const revokedAt = performance.now();
    const end = await Promise.race([watch.ended, new Promise<"still open">((r) => setTimeout(() => r("still open"), 1500))]);
    expect(end, "the stream was still open 1.5 s after the revocation").not.toBe("still open");
    expect(["unauthenticated", "permission_denied"]).toContain(end && end !== "still open" ? end.codeName : "ended cleanly");
    expect(watch.endedAt! - revokedAt).toBeLessThanOrEqual(1000);
  } finally {
    await watch.close();
  }
}

describe.skipIf(!onPostgres)("people on two server processes sharing one database", () => {
  it("serves two distinct processes", () => {
    expect(a.child.pid).not.toBe(b.child.pid);
  });

  it("accepts on B, at once, a session opened through A", async () => {
    const t = await peopleTenant();
    expect((await on(b, t.owner.token).auth.whoAmI({})).principalId).toBe(t.owner.userId);
  });

  describe.each(REVOCATIONS)("when $kind through A", ({ reason, revoke }) => {
    it(`refuses the session on B at its very next request (${reason})`, async () => {
      const t = await peopleTenant();
      await on(b, t.admin.token).auth.whoAmI({}); // B now holds the session as valid
      await revoke(t);
      const err = await failureOf(on(b, t.admin.token).auth.whoAmI({}));
      expect(err.reason).toBe(reason);
    });

    it("ends the person's open Watch stream on B within one second", async () => {
      const t = await peopleTenant();
      await expectWatchEndedWithinASecond(on(b, t.admin.token), () => revoke(t));
    });
  });

  describe.each(REVOCATIONS.slice(0, 2))("when $kind through A, the tokens the person minted", ({ revoke }) => {
    const mintedByAdmin = async (t: PeopleTenant) =>
      (await on(a, t.admin.token).tokens.createToken({ label: "admin-made", kind: TokenKind.RUNTIME })).secret;

    it("are refused on B at their very next request (TOKEN_REVOKED)", async () => {
      const t = await peopleTenant();
      const secret = await mintedByAdmin(t);
      await on(b, secret).auth.whoAmI({}); // B now holds the token as valid
      await revoke(t);
      expect((await failureOf(on(b, secret).auth.whoAmI({}))).reason).toBe("TOKEN_REVOKED");
    });

    it("end their open Watch stream on B within one second", async () => {
      const t = await peopleTenant();
      await expectWatchEndedWithinASecond(on(b, await mintedByAdmin(t)), () => revoke(t));
    });
  });

  it("refuses on B, at their very next request, every one of the many tokens a removed admin minted", async () => {
    // More revocations than one notification holds: the call returns only once B has applied them all.
    const t = await peopleTenant();
    const secrets: string[] = [];
    for (let i = 0; i < 120; i++) {
      secrets.push((await on(a, t.admin.token).tokens.createToken({ label: `fleet-${i}`, kind: TokenKind.RUNTIME })).secret);
    }
    for (const secret of secrets) await on(b, secret).auth.whoAmI({});
    await t.owner.client.users.removeMember({ userId: t.admin.userId });
    const reasons = await Promise.all(
      secrets.map((secret) =>
        on(b, secret)
          .auth.whoAmI({})
          .then(() => "ACCEPTED", errorReason),
      ),
    );
    expect(reasons).toEqual(Array(120).fill("TOKEN_REVOKED"));
  }, 60_000);

  it("applies on B, at its very next request, a role lowered through A", async () => {
    const t = await peopleTenant();
    await on(b, t.admin.token).tokens.listTokens({});
    await t.owner.client.users.setMemberRole({ userId: t.admin.userId, role: Role.VIEWER });
    const err = await failureOf(on(b, t.admin.token).tokens.listTokens({}));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
  });

  it("ends on B within one second the Watch stream of a person whose role no longer syncs", async () => {
    const t = await peopleTenant();
    const watch = recordWatch(on(b, t.admin.token), { project: WATCHED_PROJECT });
    try {
      await watch.until(isCaughtUp);
      await t.owner.client.users.setMemberRole({ userId: t.admin.userId, role: Role.VIEWER });
      const loweredAt = performance.now();
      const end = await Promise.race([watch.ended, new Promise<"still open">((r) => setTimeout(() => r("still open"), 1500))]);
      expect(end, "the stream was still open 1.5 s after the role change").not.toBe("still open");
      expect(watch.endedAt! - loweredAt).toBeLessThanOrEqual(1000);
    } finally {
      await watch.close();
    }
  });

  it("keeps refusing on B, revocation after revocation, a session revoked through A", async () => {
    // The revocation must not be a race B sometimes wins: every one of many tries is refused.
    const t = await peopleTenant();
    const reasons: string[] = [];
    for (let i = 0; i < 20; i++) {
      const session = await signIn(a, t.admin.email, t.admin.password);
      await on(b, session.token).auth.whoAmI({});
      await t.adminElsewhere.client.auth.revokeSession({ id: session.sessionId });
      reasons.push(
        await on(b, session.token)
          .auth.whoAmI({})
          .then(() => "ACCEPTED", errorReason),
      );
    }
    expect(reasons).toEqual(Array(20).fill("SESSION_REVOKED"));
  }, 60_000);

  it("refuses on B the login of a person disabled through A, with the generic error", async () => {
    const t = await peopleTenant();
    await on(a, adminToken).users.disableUser({ userId: t.admin.userId });
    const err = await failureOf(signIn(b, t.admin.email, t.admin.password));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "LOGIN_FAILED"]);
  });

  it("holds on B a lockout earned by wrong passwords on A", async () => {
    const t = await peopleTenant();
    for (let i = 0; i < 5; i++) await failureOf(signIn(a, t.admin.email, uniquePassword()));
    const err = await failureOf(signIn(b, t.admin.email, t.admin.password));
    expect([err.codeName, err.reason]).toEqual(["resource_exhausted", "LOGIN_THROTTLED"]);
  });
});
