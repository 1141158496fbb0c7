import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { createHmac } from "node:crypto";
import { AuthService, ErrorReason, reasonName } from "@engine-cloud/api";
import type { Caller } from "../auth/caller.js";
import { requireOwnPassword, loginFailed, type PasswordCheck } from "../auth/password-check.js";
import { openSession, type SessionPolicy } from "../auth/open-session.js";
import type { PasswordHasher } from "../auth/password-hash.js";
import { DomainError, failedPrecondition, notFound, permissionDenied } from "../errors/domain-error.js";
import { membershipsOfUser } from "../store/memberships.js";
import { openSessionsOfUser, revokeSessions, type SessionRow } from "../store/sessions.js";
import { findUserById, recordLoginSuccess, setPasswordHash } from "../store/users.js";
import { callerOf, originOf, requestContextKey, requestMetaOf } from "../tenancy/request-context.js";
import { withPlatform, type TxOrigin, type WriteTx } from "../store/with-tenant.js";
import type { RequestMeta } from "../store/actor.js";
import type { ServiceDeps } from "./deps.js";
import { sessionToProto } from "../messages/people.js";
import { tokenKinds } from "../messages/tokens.js";

export interface AuthServiceDeps extends Pick<ServiceDeps, "db" | "feed" | "tokenKey"> {
  checkPassword: PasswordCheck;
  sessions: SessionPolicy;
  hasher: PasswordHasher;
}

/** Checking a password is done for someone not yet signed in: the system acts for the email given. */
const LOGIN_CHECK: TxOrigin["actor"] = { kind: "system", job: "system:login" };

/** The tenant of the caller's session: where the audit events of their own acts go. */
const callerTenantOf = (ctx: HandlerContext): string | undefined => ctx.values.get(requestContextKey).tenant?.id;

function requirePerson(ctx: HandlerContext): Caller {
  const caller = callerOf(ctx);
  if (caller.principal.kind !== "user") {
    throw failedPrecondition(ErrorReason.NOT_A_PERSON, "this call is for people signed in to a session, not API tokens");
  }
  return caller;
}

export function createAuthService(deps: AuthServiceDeps): ServiceImpl<typeof AuthService> {
  const { db, feed, checkPassword } = deps;
  const announceEnded = (revoked: Array<{ id: string; tenant_id: string }>) =>
    feed.publishConfirmed(...revoked.map((r) => ({ type: "session" as const, tenantId: r.tenant_id, sessionId: r.id })));

  /** Opens a session in one of the person's active tenants; confines `t` to that tenant from here on. */
  const sessionIn = async (t: WriteTx, userId: string, tenant: string) => {
    const memberships = (await membershipsOfUser(t.tx, userId)).filter((m) => m.state === "active");
    const m = tenant ? memberships.find((x) => x.slug === tenant || x.tenant_id === tenant) : memberships[0];
    if (!m) return undefined;
    return openSession(t.tx, deps.tokenKey, deps.sessions, m.tenant_id, userId);
  };

  /**
   * Revokes sessions of a person and announces their end once that has
   * committed; each ended session is one `action` event in its tenant's chain.
   */
  const endSessions = async (
    t: WriteTx,
    userId: string,
    which: Parameters<typeof revokeSessions>[2],
    action = "session.revoke",
  ) => {
    const revoked = await revokeSessions(t.tx, userId, which);
    for (const r of revoked)
      t.audit.record({ action, target: `session:${r.id}`, tenantId: r.tenant_id, detail: { user: userId } });
    t.afterCommit(() => announceEnded(revoked));
    return revoked;
  };

  /**
   * A failed login has no transaction of its own to commit with (nothing
   * changes), and no tenant: it is recorded in the platform chain, in a
   * transaction of its own, as the login system job, with the reason as the
   * outcome. The email is named by an HMAC (a password typed into the email
   * field must not reach the log); an operator can compute it for a known
   * address. If even this write fails the login still fails, as it would have.
   */
  const recordFailedLogin = async (request: RequestMeta, email: string, err: unknown) => {
    const outcome = err instanceof DomainError ? reasonName(err.reason) : "INTERNAL";
    const emailHmac = createHmac("sha256", deps.tokenKey).update(`audit-email:${email.toLowerCase()}`).digest("base64url");
    await withPlatform(db, { actor: LOGIN_CHECK, request }, async (t) =>
      t.audit.record({ action: "session.login", target: "login", outcome, detail: { email_hmac: emailHmac } }),
    ).catch(() => undefined);
  };

  return {
    async login(req, ctx) {
      const request = requestMetaOf(ctx);
      const user = await checkPassword(req.email, req.password, request.peer).catch(async (err: unknown) => {
        await recordFailedLogin(request, req.email, err);
        throw err;
      });
      const actor = { kind: "user", id: user.id, authMethod: "password" } as const;
      const opened = await withPlatform(db, { actor, request, signal: ctx.signal }, async (t) => {
        await recordLoginSuccess(t.tx, user.id);
        const opened = await sessionIn(t, user.id, req.tenant);
        if (!opened) throw loginFailed();
        t.audit.record({
          action: "session.login",
          target: `session:${opened.session.id}`,
          tenantId: opened.session.tenant_id,
          detail: { user: user.id },
        });
        return opened;
      }).catch(async (err: unknown) => {
        // A right password for a tenant the person is not in: the transaction rolled back, the failure is recorded.
        if (err instanceof DomainError && err.reason === ErrorReason.LOGIN_FAILED)
          await recordFailedLogin(request, req.email, err);
        throw err;
      });
      return { sessionToken: opened.token, session: sessionToProto(opened.session, opened.session.id) };
    },

    async logout(_req, ctx) {
      const me = requirePerson(ctx);
      await withPlatform(db, originOf(ctx), (t) =>
        endSessions(t, me.principalId, { sessionId: me.credentialId }, "session.logout"),
      );
      return {};
    },

    async listSessions(_req, ctx) {
      const me = requirePerson(ctx);
      const rows = await openSessionsOfUser(db, me.principalId);
      return { sessions: rows.map((s) => sessionToProto(s, me.credentialId)) };
    },

    async revokeSession(req, ctx) {
      const me = requirePerson(ctx);
      await withPlatform(db, originOf(ctx), async (t) => {
        const revoked = await endSessions(t, me.principalId, { sessionId: req.id });
        if (revoked.length === 0)
          throw notFound(
            ErrorReason.SESSION_NOT_FOUND,
            "no open session of yours has that id; list your sessions to find the right one",
          );
      });
      return {};
    },

    async switchTenant(req, ctx) {
      const me = requirePerson(ctx);
      const opened = await withPlatform(db, originOf(ctx), async (t) => {
        // The old session ends first: sessionIn confines the rest of the transaction to the new tenant.
        await endSessions(t, me.principalId, { sessionId: me.credentialId }, "session.switch_tenant");
        const opened = await sessionIn(t, me.principalId, req.tenant);
        if (!opened) throw permissionDenied(ErrorReason.NOT_A_MEMBER, `you are not a member of an active tenant "${req.tenant}"`);
        t.audit.record({
          action: "session.switch_tenant",
          target: `session:${opened.session.id}`,
          tenantId: opened.session.tenant_id,
          detail: { user: me.principalId },
        });
        return opened;
      });
      return { sessionToken: opened.token, session: sessionToProto(opened.session, opened.session.id) };
    },

    async changePassword(req, ctx) {
      const me = requirePerson(ctx);
      const user = await findUserById(db, me.principalId);
      if (!user) throw loginFailed();
      const source = ctx.values.get(requestContextKey).peer;
      await requireOwnPassword(checkPassword, user.email, req.currentPassword, source, "the current password is wrong");
      // Hashed before the transaction: no connection is held through the slow part.
      const hash = await deps.hasher.hash(req.newPassword, source);
      await withPlatform(db, originOf(ctx), async (t) => {
        await setPasswordHash(t.tx, user.id, hash);
        t.audit.record({ action: "user.change_password", target: `user:${user.id}`, tenantId: callerTenantOf(ctx) });
        // Every other session ends: a changed password must lock out whoever knew the old one.
        await endSessions(t, user.id, { exceptId: me.credentialId });
      });
      return {};
    },

    whoAmI(_req, ctx) {
      const { caller, tenant } = ctx.values.get(requestContextKey);
      if (!caller) throw new Error("WhoAmI reached without a caller");
      return {
        principalType: caller.principal.kind,
        principalId: caller.principalId,
        displayName: caller.displayName,
        tenantId: tenant?.id ?? "",
        tenantSlug: tenant?.slug ?? "",
        tokenKind: caller.principal.kind === "token" ? tokenKinds.toProto(caller.principal.tokenKind) : undefined,
        platformAdmin: caller.platformAdmin,
        permissions: [...caller.permissions].sort(),
        projects: [...caller.projects],
        role: (caller.principal.kind === "user" && caller.principal.role) || "",
        sessionId: caller.principal.kind === "user" ? caller.credentialId : "",
      };
    },
  };
}
