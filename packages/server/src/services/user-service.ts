import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { MemberSchema, Role, UserService, type Member } from "@engine-cloud/sdk";
import { actorOf, type Caller } from "../auth/caller.js";
import { checkOwnPassword, type PasswordCheck } from "../auth/password-check.js";
import { PASSWORD_MIN_CHARS, type PasswordHasher } from "../auth/password-hash.js";
import { remoteAddressKey } from "../transport/remote-address.js";
import { hashToken, mintToken } from "../auth/token-format.js";
import { DomainError, failedPrecondition, invalidArgument, notFound, permissionDenied } from "../errors/domain-error.js";
import {
  claimInvitation,
  deleteMembership,
  disableUser,
  findUserByEmail,
  getMembership,
  insertInvitation,
  insertUser,
  listMembers,
  lockOwners,
  markInvitationAccepted,
  revokeSessions,
  setMemberRole,
  upsertMembership,
} from "../store/people.js";
import type { RoleColumn } from "../store/schema.js";
import { tenantScope } from "../tenancy/request-context.js";
import { withTenant } from "../tenancy/with-tenant.js";
import type { Transaction } from "kysely";
import type { Database } from "../store/schema.js";
import type { ServiceDeps } from "./deps.js";
import { decodePageToken, pageSizeOf, splitPage } from "./page-token.js";

const INVITATION_TTL_MS = 7 * 24 * 3600_000;

const ROLE_TO_PROTO: Record<RoleColumn, Role> = {
  owner: Role.OWNER,
  admin: Role.ADMIN,
  operator: Role.OPERATOR,
  builder: Role.BUILDER,
  viewer: Role.VIEWER,
};
const roleFromProto = (r: Role) => Object.entries(ROLE_TO_PROTO).find(([, v]) => v === r)![0] as RoleColumn;

export function roleToProto(role: RoleColumn): Role {
  return ROLE_TO_PROTO[role];
}

/**
 * Owners are the tenant's last line of control: only an owner, or a platform
 * administrator (who seats a tenant's first owner), may grant, take away or
 * remove the owner role. Not an admin, nor any token an admin could mint.
 */
function requireOwnerPower(caller: Caller): void {
  if (!caller.platformAdmin && caller.role !== "owner") {
    throw permissionDenied("OWNER_REQUIRED", "only an owner may grant, change or remove the owner role");
  }
}

const invalidInvitation = () =>
  new DomainError("not_found", "INVITATION_INVALID", "this invitation code is unknown, used or expired; ask for a new one");

export function createUserService(
  deps: ServiceDeps & { hasher: PasswordHasher; checkPassword: PasswordCheck },
): ServiceImpl<typeof UserService> {
  const { db, feed, tokenKey } = deps;

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
    if (!current) throw notFound("MEMBER_NOT_FOUND", "no such member in this tenant; list them with: engine-cloud user list");
    if (current.role === "owner" || to === "owner") requireOwnerPower(caller);
    if (current.role === "owner" && to !== "owner" && owners.length <= 1) {
      throw failedPrecondition("LAST_OWNER", "this is the tenant's last owner; make someone else owner first");
    }
    return current;
  };

  return {
    async inviteUser(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const role = roleFromProto(req.role);
      if (role === "owner") requireOwnerPower(caller);
      const code = mintToken("invitation", tokenKey);
      const inv = await withTenant(db, tenant.id, (tx) =>
        insertInvitation(tx, {
          tenantId: tenant.id,
          email: req.email,
          role,
          codeHash: hashToken(code, tokenKey),
          actor: actorOf(caller),
          expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
        }),
      );
      return { invitationCode: code, expiresAt: timestampFromDate(inv.expires_at) };
    },

    async acceptInvitation(req, ctx) {
      const source = ctx.values.get(remoteAddressKey);
      const codeHash = hashToken(req.invitationCode, tokenKey);
      // Who is invited is only known from the code; read it first, then act inside its tenant.
      const invitation = await db.transaction().execute((tx) => claimInvitation(tx, codeHash));
      if (!invitation || invitation.accepted_at || invitation.expires_at.getTime() <= Date.now() || invitation.tenant_state !== "active") {
        throw invalidInvitation();
      }
      let user = await findUserByEmail(db, invitation.email);
      if (user) {
        // Throttled like a login: an invitation must not be a way to guess an account's password.
        await checkOwnPassword(
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
        user = await insertUser(db, {
          email: invitation.email,
          displayName: req.displayName,
          passwordHash: await deps.hasher.hash(req.password, source),
        });
      }
      const userId = user.id;
      const member = await withTenant(db, invitation.tenant_id, async (tx) => {
        const again = await claimInvitation(tx, codeHash);
        if (!again || again.accepted_at) throw invalidInvitation(); // accepted concurrently
        const m = await upsertMembership(tx, { tenantId: invitation.tenant_id, userId, role: invitation.role, actor: invitation.created_by });
        await markInvitationAccepted(tx, invitation.tenant_id, invitation.id, userId);
        return m;
      });
      feed.publish({ type: "membership", tenantId: invitation.tenant_id, userId });
      return {
        tenantSlug: invitation.tenant_slug,
        member: create(MemberSchema, {
          userId,
          email: user.email,
          displayName: user.display_name,
          role: ROLE_TO_PROTO[member.role],
          createdAt: timestampFromDate(member.created_at),
          createdBy: member.created_by,
        }),
      };
    },

    async listMembers(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<{ email: string }>(req.pageToken, ["email"]);
      const rows = await withTenant(db, tenant.id, (tx) => listMembers(tx, tenant.id, { limit: size + 1, afterEmail: after?.email }));
      const { page, next } = splitPage(rows, size, (m) => ({ email: m.email }));
      return {
        nextPageToken: next,
        members: page.map(
          (m): Member =>
            create(MemberSchema, {
              userId: m.user_id,
              email: m.email,
              displayName: m.display_name,
              role: ROLE_TO_PROTO[m.role],
              createdAt: timestampFromDate(m.created_at),
              createdBy: m.created_by,
              lastLoginAt: m.last_login_at ? timestampFromDate(m.last_login_at) : undefined,
              disabled: m.disabled_at !== null,
            }),
        ),
      };
    },

    async setMemberRole(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const role = roleFromProto(req.role);
      const updated = await withTenant(db, tenant.id, async (tx) => {
        await changeMembership(tx, caller, tenant.id, req.userId, role);
        return setMemberRole(tx, tenant.id, req.userId, role);
      });
      await feed.publishConfirmed({ type: "membership", tenantId: tenant.id, userId: req.userId });
      return { member: create(MemberSchema, { userId: req.userId, role: ROLE_TO_PROTO[updated!.role] }) };
    },

    async removeMember(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      await withTenant(db, tenant.id, async (tx) => {
        await changeMembership(tx, caller, tenant.id, req.userId, "removed");
        await deleteMembership(tx, tenant.id, req.userId);
        await revokeSessions(tx, req.userId, { tenantId: tenant.id });
      });
      await feed.publishConfirmed({ type: "membership", tenantId: tenant.id, userId: req.userId });
      return {};
    },

    async disableUser(req) {
      if (!(await disableUser(db, req.userId))) throw notFound("USER_NOT_FOUND", "no user with that id");
      await revokeSessions(db, req.userId);
      await feed.publishConfirmed({ type: "user", userId: req.userId });
      return {};
    },
  };
}
