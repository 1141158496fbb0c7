import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AuthService, SessionSchema, type Session } from "@engine-cloud/sdk";
import type { Caller } from "../auth/caller.js";
import type { LoginThrottle } from "../auth/login-throttle.js";
import { throttled } from "../auth/login-throttle.js";
import { openSession, type SessionPolicy } from "../auth/open-session.js";
import { hashPassword, verifyPassword } from "../auth/password-hash.js";
import { DomainError, failedPrecondition, notFound, permissionDenied, unauthenticated } from "../errors/domain-error.js";
import {
  findUserByEmail,
  findUserById,
  membershipsOfUser,
  openSessionsOfUser,
  recordLoginFailure,
  recordLoginSuccess,
  revokeSessions,
  setPasswordHash,
  type SessionRow,
} from "../store/people.js";
import { callerOf, requestContextKey } from "../tenancy/request-context.js";
import { remoteAddressKey } from "../transport/remote-address.js";
import type { ServiceDeps } from "./deps.js";
import { TOKEN_KIND_TO_PROTO } from "./to-proto.js";

export interface AuthServiceDeps extends ServiceDeps {
  /** Per account: few free failures. Per source address: many, since offices and NATs share one. */
  throttles: { account: LoginThrottle; source: LoginThrottle };
  sessions: SessionPolicy;
  passwordHashLogN: number;
}

/** The one answer to every failed sign-in: nothing tells whether the email exists. */
const loginFailed = () => unauthenticated("LOGIN_FAILED", "wrong email, password or tenant");

function sessionToProto(s: SessionRow, current: string): Session {
  const ts = (d: Date | null) => (d ? timestampFromDate(d) : undefined);
  return create(SessionSchema, {
    id: s.id,
    userId: s.user_id,
    tenantId: s.tenant_id,
    createdAt: ts(s.created_at),
    lastUsedAt: ts(s.last_used_at),
    idleExpiresAt: ts(s.idle_expires_at),
    expiresAt: ts(s.expires_at),
    displayPrefix: s.display_prefix,
    current: s.id === current,
  });
}

function personOf(ctx: HandlerContext): Caller {
  const caller = callerOf(ctx);
  if (caller.principalType !== "user") {
    throw failedPrecondition("NOT_A_PERSON", "this call is for people signed in with engine-cloud login, not API tokens");
  }
  return caller;
}

export function createAuthService(deps: AuthServiceDeps): ServiceImpl<typeof AuthService> {
  const { db, feed } = deps;
  const { account, source: bySource } = deps.throttles;
  // Compared against when the email is unknown, so both paths cost one hash.
  const decoy = hashPassword("engine-cloud decoy password", deps.passwordHashLogN);

  /** Checks a password under the throttle; known accounts also count failures in the database (all servers). */
  const checkPassword = async (email: string, password: string, source: string) => {
    const accountKey = [email.toLowerCase()];
    const sourceKey = [source];
    account.begin(accountKey);
    try {
      bySource.begin(sourceKey);
    } catch (err) {
      account.release(accountKey);
      throw err;
    }
    try {
      const user = await findUserByEmail(db, email);
      if (user?.locked_until && user.locked_until.getTime() > Date.now()) {
        throw throttled(user.locked_until.getTime() - Date.now());
      }
      const ok = await verifyPassword(password, user?.password_hash ?? (await decoy));
      if (!user || !ok || user.disabled_at) {
        account.fail(accountKey);
        bySource.fail(sourceKey);
        if (user && !ok) await recordLoginFailure(db, user.id);
        throw loginFailed();
      }
      account.succeed(accountKey);
      return user;
    } finally {
      account.release(accountKey);
      bySource.release(sourceKey);
    }
  };

  const sessionIn = async (userId: string, tenant: string) => {
    const memberships = (await membershipsOfUser(db, userId)).filter((m) => m.state === "active");
    const m = tenant ? memberships.find((x) => x.slug === tenant || x.tenant_id === tenant) : memberships[0];
    if (!m) return undefined;
    return openSession(db, deps.tokenKey, deps.sessions, m.tenant_id, userId);
  };

  return {
    async login(req, ctx) {
      const user = await checkPassword(req.email, req.password, ctx.values.get(remoteAddressKey));
      const opened = await sessionIn(user.id, req.tenant);
      if (!opened) throw loginFailed();
      await recordLoginSuccess(db, user.id);
      return { sessionToken: opened.token, session: sessionToProto(opened.session, opened.session.id) };
    },

    async logout(_req, ctx) {
      const me = personOf(ctx);
      const revoked = await revokeSessions(db, me.principalId, { sessionId: me.credentialId });
      for (const s of revoked) feed.publish({ type: "session", tenantId: s.tenant_id, sessionId: s.id });
      return {};
    },

    async listSessions(_req, ctx) {
      const me = personOf(ctx);
      const rows = await openSessionsOfUser(db, me.principalId);
      return { sessions: rows.map((s) => sessionToProto(s, me.credentialId)) };
    },

    async revokeSession(req, ctx) {
      const me = personOf(ctx);
      const revoked = await revokeSessions(db, me.principalId, { sessionId: req.id });
      if (revoked.length === 0) throw notFound("SESSION_NOT_FOUND", "no open session of yours has that id; list them with: engine-cloud auth sessions");
      for (const s of revoked) feed.publish({ type: "session", tenantId: s.tenant_id, sessionId: s.id });
      return {};
    },

    async switchTenant(req, ctx) {
      const me = personOf(ctx);
      const opened = await sessionIn(me.principalId, req.tenant);
      if (!opened) throw permissionDenied("PERMISSION_DENIED", `you are not a member of an active tenant "${req.tenant}"`);
      const revoked = await revokeSessions(db, me.principalId, { sessionId: me.credentialId });
      for (const s of revoked) feed.publish({ type: "session", tenantId: s.tenant_id, sessionId: s.id });
      return { sessionToken: opened.token, session: sessionToProto(opened.session, opened.session.id) };
    },

    async changePassword(req, ctx) {
      const me = personOf(ctx);
      const user = await findUserById(db, me.principalId);
      if (!user) throw loginFailed();
      await checkPassword(user.email, req.currentPassword, ctx.values.get(remoteAddressKey)).catch((err) => {
        throw err instanceof DomainError && err.reason === "LOGIN_FAILED"
          ? permissionDenied("WRONG_PASSWORD", "the current password is wrong")
          : err;
      });
      await setPasswordHash(db, user.id, await hashPassword(req.newPassword, deps.passwordHashLogN));
      // Every other session ends: a changed password must lock out whoever knew the old one.
      const revoked = await revokeSessions(db, user.id, { exceptId: me.credentialId });
      for (const s of revoked) feed.publish({ type: "session", tenantId: s.tenant_id, sessionId: s.id });
      return {};
    },

    whoAmI(_req, ctx) {
      const { caller, tenant } = ctx.values.get(requestContextKey);
      if (!caller) throw new Error("WhoAmI reached without a caller");
      return {
        principalType: caller.principalType,
        principalId: caller.principalId,
        displayName: caller.displayName,
        tenantId: tenant?.id ?? "",
        tenantSlug: tenant?.slug ?? "",
        tokenKind: caller.tokenKind ? TOKEN_KIND_TO_PROTO[caller.tokenKind] : undefined,
        platformAdmin: caller.platformAdmin,
        permissions: [...caller.permissions].sort(),
        projects: [...caller.projects],
        role: caller.role ?? "",
        sessionId: caller.principalType === "user" ? caller.credentialId : "",
      };
    },
  };
}
