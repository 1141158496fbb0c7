import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AuthService, SessionSchema, type Session } from "@engine-cloud/api";
import type { Caller } from "../auth/caller.js";
import { checkOwnPassword, loginFailed, type PasswordCheck } from "../auth/password-check.js";
import { openSession, type SessionPolicy } from "../auth/open-session.js";
import type { PasswordHasher } from "../auth/password-hash.js";
import { DomainError, failedPrecondition, notFound, permissionDenied } from "../errors/domain-error.js";
import {
  findUserById,
  membershipsOfUser,
  openSessionsOfUser,
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
  checkPassword: PasswordCheck;
  sessions: SessionPolicy;
  hasher: PasswordHasher;
}

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
  const { db, feed, checkPassword } = deps;
  const announceEnded = (revoked: Array<{ id: string; tenant_id: string }>) =>
    feed.publishConfirmed(...revoked.map((r) => ({ type: "session" as const, tenantId: r.tenant_id, sessionId: r.id })));

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
      await announceEnded(revoked);
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
      await announceEnded(revoked);
      return {};
    },

    async switchTenant(req, ctx) {
      const me = personOf(ctx);
      const opened = await sessionIn(me.principalId, req.tenant);
      if (!opened) throw permissionDenied("NOT_A_MEMBER", `you are not a member of an active tenant "${req.tenant}"`);
      const revoked = await revokeSessions(db, me.principalId, { sessionId: me.credentialId });
      await announceEnded(revoked);
      return { sessionToken: opened.token, session: sessionToProto(opened.session, opened.session.id) };
    },

    async changePassword(req, ctx) {
      const me = personOf(ctx);
      const user = await findUserById(db, me.principalId);
      if (!user) throw loginFailed();
      const source = ctx.values.get(remoteAddressKey);
      await checkOwnPassword(checkPassword, user.email, req.currentPassword, source, "the current password is wrong");
      await setPasswordHash(db, user.id, await deps.hasher.hash(req.newPassword, source));
      // Every other session ends: a changed password must lock out whoever knew the old one.
      const revoked = await revokeSessions(db, user.id, { exceptId: me.credentialId });
      await announceEnded(revoked);
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
