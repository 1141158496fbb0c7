import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, UserService } from "@engine-cloud/api";
import { invitationToProto, memberToProto, roles } from "../messages/people.js";
import { actorLabelOf, type Caller } from "../auth/caller.js";
import { requireOwnPassword, type PasswordCheck } from "../auth/password-check.js";
import { PASSWORD_MIN_CHARS, type PasswordHasher } from "../auth/password-hash.js";
import type { LoginThrottle } from "../auth/login-throttle.js";
import { hashToken, inspectToken, mintToken } from "../auth/token-format.js";
import {
  alreadyExists,
  DomainError,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
} from "../errors/domain-error.js";
import {
  claimInvitation,
  insertInvitation,
  ISSUER_LOST_RIGHT,
  listInvitations,
  lockInvitation,
  markInvitationAccepted,
  revokeInvitation,
  revokeInvitationsIssuedBy,
  type InvitationRow,
} from "../store/invitations.js";
import {
  deleteMembership,
  findMember,
  getMembership,
  insertMembership,
  listMembers,
  lockOwners,
  setMemberRole,
} from "../store/memberships.js";
import { revokeSessions } from "../store/sessions.js";
import { claimUnverifiedAccount, disableUser, findUserByEmail, insertUser, markEmailVerified } from "../store/users.js";
import type { InvitationMailer } from "../mail/invitation-mailer.js";
import { InvitationDelivery } from "@engine-cloud/api";
import { revokeTokensMintedBy } from "../store/tokens.js";
import type { Executor } from "../store/schema.js";
import type { ChangeEvent } from "../feed/change-feed.js";
import { issuerMayGrant } from "../tenancy/issuer-may-grant.js";
import { grantorOf, holdsOwnerPower, roleRank, rolesBeyond, tokenKindsBeyond } from "../tenancy/role-grants.js";
import type { RoleColumn } from "../store/schema.js";
import { originOf, requestContextKey, requestMetaOf, scopeOf, tenantScope } from "../tenancy/request-context.js";
import type { RequestMeta } from "../store/actor.js";
import { enterTenant, withPlatform, withTenant, type TxOrigin } from "../store/with-tenant.js";
import type { Transaction } from "kysely";
import type { Database } from "../store/schema.js";
import type { ServiceDeps } from "./deps.js";
import { decodeIdPageToken, decodePageToken, pageSizeOf, splitPage } from "./page-token.js";

const INVITATION_TTL_MS = 7 * 24 * 3600_000;

/** Accepting an invitation is done by someone not yet signed in: the system acts for the code they hold. */
const INVITATION_CHECK: TxOrigin["actor"] = { kind: "system", job: "system:invitation" };

/** See holdsOwnerPower: who may grant, take away or remove the owner role. */
function requireOwnerPower(caller: Caller): void {
  if (!holdsOwnerPower(grantorOf(caller))) {
    throw permissionDenied(ErrorReason.OWNER_REQUIRED, "only an owner may grant, change or remove the owner role");
  }
}

const invalidInvitation = () =>
  new DomainError(
    "not_found",
    ErrorReason.INVITATION_INVALID,
    "this invitation code is unknown, used or expired; ask for a new one",
  );
const revokedInvitation = () =>
  failedPrecondition(ErrorReason.INVITATION_REVOKED, "this invitation was revoked by an administrator; ask for a new one");
const issuerLostRight = () =>
  failedPrecondition(
    ErrorReason.INVITATION_ISSUER_LOST_RIGHT,
    "whoever issued this invitation can no longer grant its role (removed, disabled, demoted or revoked), so it no longer works; ask a current administrator for a new one",
  );
/** Failures that a guessed or stale code earns: these count against the address's invitation throttle. */
const CODE_FAILURES = new Set([
  ErrorReason.INVITATION_INVALID,
  ErrorReason.INVITATION_REVOKED,
  ErrorReason.INVITATION_ISSUER_LOST_RIGHT,
]);

type ClaimedInvitation = NonNullable<Awaited<ReturnType<typeof claimInvitation>>>;

/**
 * The invitation a code names, if it still works, locked until the
 * transaction ends. One that outlived its issuer's right is revoked here (the
 * caller commits that, then reports `dead`), so listings show it for what it is.
 */
async function openInvitation(
  tx: Transaction<Database>,
  codeHash: Uint8Array,
): Promise<{ open: ClaimedInvitation } | { dead: DomainError }> {
  const inv = await claimInvitation(tx, codeHash);
  if (!inv || inv.accepted_at || inv.expires_at.getTime() <= Date.now() || inv.tenant_state !== "active") {
    return { dead: invalidInvitation() };
  }
  if (inv.revoked_at) return { dead: inv.revoked_by === ISSUER_LOST_RIGHT ? issuerLostRight() : revokedInvitation() };
  if (!(await issuerMayGrant(tx, inv))) {
    await revokeInvitation(tx, inv.tenant_id, inv.id, ISSUER_LOST_RIGHT);
    return { dead: issuerLostRight() };
  }
  return { open: inv };
}

/**
 * What a person can no longer grant once moved to `role` (or out: no role),
 * dies with the move, in its transaction: the tokens they minted that the new
 * role could not mint, and everything those tokens minted (L3), and their open
 * invitations of roles the new role could not grant, or issued by those tokens
 * (M2). Returns the events announcing the revoked tokens.
 */
async function revokeWhatTheyNoLongerGrant(
  tx: Executor,
  userId: string,
  opts: { tenantId?: string; role?: RoleColumn },
): Promise<ChangeEvent[]> {
  const tokens = await revokeTokensMintedBy(tx, userId, {
    tenantId: opts.tenantId,
    kinds: opts.role && tokenKindsBeyond(opts.role),
  });
  await revokeInvitationsIssuedBy(tx, [`user:${userId}`], {
    tenantId: opts.tenantId,
    roles: opts.role && rolesBeyond(opts.role),
  });
  await revokeInvitationsIssuedBy(
    tx,
    tokens.map((t) => `token:${t.id}`),
    { tenantId: opts.tenantId },
  );
  return tokens.map((t) => ({ type: "token", tenantId: t.tenant_id, tokenId: t.id }));
}

/**
 * Announces rights taken away, confirmed by every process. In slices that fit
 * one notification each: a peer confirms a batch as soon as it has applied its
 * first notification, so a batch split over several (a person who minted
 * hundreds of tokens) could be confirmed before its last part was applied.
 */
async function publishRevocations(feed: ServiceDeps["feed"], events: ChangeEvent[]): Promise<void> {
  const PER_NOTIFICATION = 50; // ~100 bytes each, far below the 8,000-byte payload limit
  for (let i = 0; i < events.length; i += PER_NOTIFICATION) await feed.publishConfirmed(...events.slice(i, i + PER_NOTIFICATION));
}

export function createUserService(
  deps: Pick<ServiceDeps, "db" | "feed" | "tokenKey"> & {
    hasher: PasswordHasher;
    checkPassword: PasswordCheck;
    invitationThrottle: LoginThrottle;
    /** Mails invitations when SMTP is configured; without it the inviter gets the code and a link to pass on. */
    mailer?: InvitationMailer;
    /** The server's base URL, for the console's accept link. */
    publicUrl: () => string;
  },
): ServiceImpl<typeof UserService> {
  const { db, feed, tokenKey } = deps;

  /** The acceptance proper; see acceptInvitation for the throttle around it. */
  const accept = async (req: { invitationCode: string; displayName: string; password: string }, request: RequestMeta) => {
    const source = request.peer;
    // A code carries a keyed checksum (auth/token-format.ts): a made-up one is refused here, before any database work.
    const shape = inspectToken(req.invitationCode, tokenKey);
    if (shape.kind !== "formatted" || shape.tokenKind !== "invitation") throw invalidInvitation();
    const codeHash = hashToken(req.invitationCode, tokenKey);
    // Who is invited is only known from the code; read it first, then act inside its tenant.
    const first = await withPlatform(db, { actor: INVITATION_CHECK, request }, (t) => openInvitation(t.tx, codeHash));
    if ("dead" in first) throw first.dead;
    const invitation = first.open;
    const known = await findUserByEmail(db, invitation.email);
    // Opening a mailed link proves the address. An account of that address nobody ever proved (made through a
    // link an inviter held, finding 9) then belongs to the mailbox holder: it is claimed with a new password.
    const emailed = invitation.delivery === "email";
    const claims = known !== undefined && emailed && known.email_verified_at === null;
    let newAccount: { email: string; displayName: string; passwordHash: string } | undefined;
    if (known && !claims) {
      // Throttled like a login: an invitation must not be a way to guess an account's password.
      await requireOwnPassword(
        deps.checkPassword,
        invitation.email,
        req.password,
        source,
        "this email has an account: give its current password to accept",
      );
    } else {
      if (!req.displayName) throw invalidArgument("display_name", "display_name: required for a new account");
      if ([...req.password].length < PASSWORD_MIN_CHARS) {
        throw invalidArgument("password", `password: at least ${PASSWORD_MIN_CHARS} characters`);
      }
      // Hashed before the transaction: no connection is held through the slow part.
      newAccount = {
        email: invitation.email,
        displayName: req.displayName,
        passwordHash: await deps.hasher.hash(req.password, source),
      };
    }
    // One transaction from the code to the membership (and the new account), holding the invitation and its
    // issuer locked throughout: a revocation, or the issuer's removal or demotion, either waits for it or wins.
    const done = await withPlatform(db, { actor: INVITATION_CHECK, request }, async ({ tx, afterCommit, audit }) => {
      const again = await openInvitation(tx, codeHash); // accepted, revoked or outlived concurrently?
      if ("dead" in again) return again; // commits the revocation openInvitation may have made, nothing else
      // Account writes come before enterTenant: the application role may not write users.
      if (claims) {
        // Verified meanwhile (another emailed invitation): from now on only its password joins with it.
        if (!(await claimUnverifiedAccount(tx, known.id, newAccount!))) {
          throw permissionDenied(ErrorReason.WRONG_PASSWORD, "this email's account was just verified: accept with its password");
        }
        // Whoever created the account may be signed in to it: every session of it ends.
        const ended = await revokeSessions(tx, known.id);
        afterCommit(() =>
          publishRevocations(
            feed,
            ended.map((r) => ({ type: "session" as const, tenantId: r.tenant_id, sessionId: r.id })),
          ),
        );
      } else if (emailed && known) await markEmailVerified(tx, known.id);
      const user = known ?? (await insertUser(tx, { ...newAccount!, emailVerified: emailed }));
      const userId = user.id;
      const { tenant_id: tenantId, role } = again.open;
      await enterTenant(tx, tenantId);
      const current = await getMembership(tx, tenantId, userId);
      // An invitation may raise a member's role, never lower it: an owner accepting a viewer invitation stays owner.
      if (current && roleRank(current.role) >= roleRank(role)) {
        throw alreadyExists(
          ErrorReason.ALREADY_MEMBER,
          `you are already a member of this tenant as ${current.role}, which this invitation (${role}) would not raise; it stays unused`,
        );
      }
      const m = current
        ? (await setMemberRole(tx, tenantId, userId, role))!
        : await insertMembership(tx, { tenantId, userId, role, actor: again.open.created_by });
      await markInvitationAccepted(tx, tenantId, again.open.id, userId);
      audit.record({
        action: "invitation.accept",
        target: `invitation:${again.open.id}`,
        tenantId,
        detail: { user: userId, role, new_account: !known, claimed_unverified: claims, email_verified: emailed },
      });
      afterCommit(() => feed.publish({ type: "membership", tenantId, userId }));
      return { member: m, user };
    });
    if ("dead" in done) throw done.dead;
    const { member, user } = done;
    return {
      tenantSlug: invitation.tenant_slug,
      member: memberToProto({
        ...member,
        email: user.email,
        // A claimed account carries the name just given, not the one its creator chose.
        display_name: claims ? newAccount!.displayName : user.display_name,
        disabled_at: null,
      }),
    };
  };

  /** Changes a membership under the last-owner rule; the owners are locked so concurrent changes cannot both pass. */
  const changeMembership = async (
    tx: Transaction<Database>,
    caller: Caller,
    tenantId: string,
    userId: string,
    to: RoleColumn | "removed",
  ) => {
    const owners = await lockOwners(tx, tenantId);
    const current = await getMembership(tx, tenantId, userId);
    if (!current)
      throw notFound(ErrorReason.MEMBER_NOT_FOUND, "no such member in this tenant; list the members to find the right one");
    if (current.role === "owner" || to === "owner") requireOwnerPower(caller);
    if (current.role === "owner" && to !== "owner" && owners.length <= 1) {
      throw failedPrecondition(ErrorReason.LAST_OWNER, "this is the tenant's last owner; make someone else owner first");
    }
    return current;
  };

  return {
    async inviteUser(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const role = roles.fromProto(req.role);
      if (role === "owner") requireOwnerPower(caller);
      const code = mintToken("invitation", tokenKey);
      const { mailer } = deps;
      // The fragment never reaches a server, so no log between the browser and us sees the code.
      const acceptUrl = `${deps.publicUrl()}/console/accept#code=${code}`;
      const inv = await withTenant(db, scopeOf(ctx), async ({ tx, audit, afterCommit }) => {
        const inserted = await insertInvitation(tx, {
          tenantId: tenant.id,
          email: req.email,
          role,
          codeHash: hashToken(code, tokenKey),
          actor: actorLabelOf(caller),
          expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
          delivery: mailer ? "email" : "link",
        });
        // Named by id and email: the code is the secret, and is never recorded.
        audit.record({
          action: "invitation.create",
          target: `invitation:${inserted.id}`,
          detail: { email: req.email, role, delivery: inserted.delivery },
        });
        // Mailed only once committed: a rolled-back invitation must not reach anyone's inbox.
        if (mailer) {
          const mail = { ...inserted, expiresAt: inserted.expires_at, tenantId: tenant.id, tenantSlug: tenant.slug };
          afterCommit(() => mailer.send(mail, acceptUrl));
        }
        return inserted;
      });
      const invitation = invitationToProto(inv, new Date());
      if (mailer) return { delivery: InvitationDelivery.EMAILED, expiresAt: timestampFromDate(inv.expires_at), invitation };
      return {
        invitationCode: code,
        acceptUrl,
        delivery: InvitationDelivery.LINK,
        expiresAt: timestampFromDate(inv.expires_at),
        invitation,
      };
    },

    async acceptInvitation(req, ctx) {
      const source = ctx.values.get(requestContextKey).peer;
      // Guessing codes from one address is throttled like guessing passwords, and refused before the checksum is even looked at.
      const attempt = deps.invitationThrottle.begin(source);
      try {
        return await accept(req, requestMetaOf(ctx));
      } catch (err) {
        if (err instanceof DomainError && CODE_FAILURES.has(err.reason)) attempt.fail();
        throw err;
      } finally {
        attempt.end();
      }
    },

    async listInvitations(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const afterId = decodeIdPageToken(req.pageToken);
      const now = new Date();
      const rows = await withTenant(db, scopeOf(ctx), ({ tx }) =>
        listInvitations(tx, tenant.id, { limit: size + 1, afterId, showInactive: req.showInactive, now }),
      );
      const { page, next } = splitPage(rows, size, (i) => ({ id: i.id }));
      return { invitations: page.map((i) => invitationToProto(i, now)), nextPageToken: next };
    },

    async revokeInvitation(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const row = await withTenant(db, scopeOf(ctx), async ({ tx, audit }) => {
        const inv = await lockInvitation(tx, tenant.id, req.id);
        if (!inv)
          throw notFound(
            ErrorReason.INVITATION_NOT_FOUND,
            `no invitation ${req.id} in this tenant; list the invitations to find the right id`,
          );
        if (inv.role === "owner") requireOwnerPower(caller);
        if (inv.accepted_at) {
          throw failedPrecondition(
            ErrorReason.INVITATION_ACCEPTED,
            "this invitation was already accepted; to take the person out, remove the member",
          );
        }
        audit.record({ action: "invitation.revoke", target: `invitation:${inv.id}`, detail: { email: inv.email } });
        return revokeInvitation(tx, tenant.id, inv.id, actorLabelOf(caller));
      });
      return { invitation: invitationToProto(row, new Date()) };
    },

    async listMembers(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<{ email: string }>(req.pageToken, ["email"]);
      const rows = await withTenant(db, scopeOf(ctx), ({ tx }) =>
        listMembers(tx, tenant.id, { limit: size + 1, afterEmail: after?.email }),
      );
      const { page, next } = splitPage(rows, size, (m) => ({ email: m.email }));
      return {
        nextPageToken: next,
        members: page.map(memberToProto),
      };
    },

    async setMemberRole(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const role = roles.fromProto(req.role);
      const updated = await withTenant(db, scopeOf(ctx), async ({ tx, afterCommit, audit }) => {
        const before = await changeMembership(tx, caller, tenant.id, req.userId, role);
        audit.record({ action: "member.set_role", target: `user:${req.userId}`, detail: { from: before.role, to: role } });
        await setMemberRole(tx, tenant.id, req.userId, role);
        const revoked = await revokeWhatTheyNoLongerGrant(tx, req.userId, { tenantId: tenant.id, role });
        afterCommit(() =>
          publishRevocations(feed, [{ type: "membership", tenantId: tenant.id, userId: req.userId }, ...revoked]),
        );
        return findMember(tx, tenant.id, req.userId);
      });
      // The whole member, as ListMembers shows it: a caller need not list again to see what changed.
      return { member: memberToProto(updated!) };
    },

    async removeMember(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      await withTenant(db, scopeOf(ctx), async ({ tx, afterCommit, audit }) => {
        const before = await changeMembership(tx, caller, tenant.id, req.userId, "removed");
        audit.record({ action: "member.remove", target: `user:${req.userId}`, detail: { role: before.role } });
        await deleteMembership(tx, tenant.id, req.userId);
        await revokeSessions(tx, req.userId, { tenantId: tenant.id });
        const revoked = await revokeWhatTheyNoLongerGrant(tx, req.userId, { tenantId: tenant.id });
        afterCommit(() =>
          publishRevocations(feed, [{ type: "membership", tenantId: tenant.id, userId: req.userId }, ...revoked]),
        );
      });
      return {};
    },

    async disableUser(req, ctx) {
      // Platform-wide, on the owner connection: the person's tokens and invitations in every tenant die with the account.
      await withPlatform(db, originOf(ctx), async ({ tx, afterCommit, audit }) => {
        if (!(await disableUser(tx, req.userId))) throw notFound(ErrorReason.USER_NOT_FOUND, "no user with that id");
        audit.record({ action: "user.disable", target: `user:${req.userId}` });
        await revokeSessions(tx, req.userId);
        const revoked = await revokeWhatTheyNoLongerGrant(tx, req.userId, {});
        afterCommit(() => publishRevocations(feed, [{ type: "user", userId: req.userId }, ...revoked]));
      });
      return {};
    },
  };
}
