import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { BrowserSessions } from "../auth/browser-session-cookie.js";
import type { LoginThrottle } from "../auth/login-throttle.js";
import { hashToken } from "../auth/token-format.js";
import { createHmac } from "node:crypto";
import { AuthService, ErrorReason, reasonName } from "@engine-cloud/api";
import type { Caller } from "../auth/caller.js";
import { requireOwnPassword, loginFailed, type PasswordCheck } from "../auth/password-check.js";
import { openSession, type SessionPolicy } from "../auth/open-session.js";
import type { PasswordHasher } from "../auth/password-hash.js";
import {
  alreadyExists,
  DomainError,
  failedPrecondition,
  notFound,
  permissionDenied,
  unauthenticated,
} from "../errors/domain-error.js";
import { insertMembership, membershipsOfUser } from "../store/memberships.js";
import { openSessionsOfUser, revokeSessions, type SessionRow } from "../store/sessions.js";
import { claimSetupCode, setupCodeIsLive } from "../store/setup-codes.js";
import { findUserByEmail, findUserById, insertUser, recordLoginSuccess, setPasswordHash } from "../store/users.js";
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
  /** Hands sessions to browsers as the console's cookie (auth/browser-session-cookie.ts). */
  browserSessions: BrowserSessions;
  /** Where CompleteSetup seats the first platform administrator as owner. */
  operatorTenantId: string;
  /** Wrong setup codes, per source address, on the sign-in address throttle's curve. */
  setupThrottle: LoginThrottle;
}

/** Creating the first administrator is done for someone not yet signed in: the system acts, by the setup code. */
const SETUP = { kind: "system", job: "system:setup" } as const satisfies TxOrigin["actor"];

const setupCodeInvalid = () =>
  unauthenticated(
    ErrorReason.SETUP_CODE_INVALID,
    "the setup code is unknown, used, expired or replaced; restart the server for a new one, or sign in",
  );

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

  /**
   * The session as the response carries it: its token, or, for a browser, a cookie and no token at all (page
   * scripts must never hold it). The cookie's rules follow the request's own host (auth/browser-session-cookie.ts).
   */
  const deliver = (ctx: HandlerContext, opened: { token: string; session: SessionRow }, asCookie: boolean) => {
    if (asCookie) {
      const site = ctx.values.get(requestContextKey);
      ctx.responseHeader.append("set-cookie", deps.browserSessions.cookieFor(site, opened.token, opened.session.expires_at));
    }
    return { sessionToken: asCookie ? "" : opened.token, session: sessionToProto(opened.session, opened.session.id) };
  };
  const usedCookie = (ctx: HandlerContext) => ctx.values.get(requestContextKey).credential?.via === "cookie";

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
      return deliver(ctx, opened, req.browserSession);
    },

    async completeSetup(req, ctx) {
      const request = requestMetaOf(ctx);
      const attempt = deps.setupThrottle.begin(request.peer);
      try {
        const codeHash = hashToken(req.code, deps.tokenKey);
        // A wrong code costs one lookup, never a password hash: guessing must be cheaper for us than for the guesser.
        if (!(await setupCodeIsLive(db, codeHash))) throw setupCodeInvalid();
        // Hashed before the transaction: no connection is held through the slow part.
        const hash = await deps.hasher.hash(req.password, request.peer);
        const opened = await withPlatform(db, { actor: SETUP, request, signal: ctx.signal }, async (t) => {
          // The claim itself: of two calls racing with one code, one wins.
          if (!(await claimSetupCode(t.tx, codeHash))) throw setupCodeInvalid();
          // Setup never takes over an account: whoever holds the code does not hold that person's password.
          if (await findUserByEmail(t.tx, req.email))
            throw alreadyExists(ErrorReason.SETUP_EMAIL_TAKEN, "an account with this email exists; give another email");
          const user = await insertUser(t.tx, {
            email: req.email,
            displayName: req.displayName,
            passwordHash: hash,
            platformAdmin: true,
            emailVerified: true,
          });
          const opened = await openSession(t.tx, deps.tokenKey, deps.sessions, deps.operatorTenantId, user.id);
          await insertMembership(t.tx, { tenantId: deps.operatorTenantId, userId: user.id, role: "owner", actor: SETUP.job });
          t.audit.record({
            action: "auth.setup",
            target: `user:${user.id}`,
            tenantId: deps.operatorTenantId,
            detail: { session: opened.session.id, platform_admin: true },
          });
          return opened;
        });
        attempt.succeed();
        return deliver(ctx, opened, req.browserSession);
      } catch (err) {
        if (err instanceof DomainError && err.reason === ErrorReason.SETUP_CODE_INVALID) {
          attempt.fail();
          await withPlatform(db, { actor: SETUP, request }, async (t) =>
            t.audit.record({ action: "auth.setup", target: "setup", outcome: reasonName(err.reason) }),
          ).catch(() => undefined);
        }
        throw err;
      } finally {
        attempt.end();
      }
    },

    async logout(_req, ctx) {
      const me = requirePerson(ctx);
      await withPlatform(db, originOf(ctx), (t) =>
        endSessions(t, me.principalId, { sessionId: me.credentialId }, "session.logout"),
      );
      if (usedCookie(ctx))
        ctx.responseHeader.append("set-cookie", deps.browserSessions.clearedCookie(ctx.values.get(requestContextKey)));
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
      return deliver(ctx, opened, usedCookie(ctx));
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

    async whoAmI(_req, ctx) {
      const { caller, tenant, credential } = ctx.values.get(requestContextKey);
      if (!caller) throw new Error("WhoAmI reached without a caller");
      const person = caller.principal.kind === "user";
      // Read, not cached: the idle window slides with use (flushed in batches), and the console shows when it ends.
      const session = person
        ? (await openSessionsOfUser(db, caller.principalId)).find((s) => s.id === caller.credentialId)
        : undefined;
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
        sessionId: person ? caller.credentialId : "",
        session: session && sessionToProto(session, caller.credentialId),
        browserSession: credential?.via === "cookie",
      };
    },
  };
}
