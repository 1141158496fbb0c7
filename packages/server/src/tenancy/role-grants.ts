import { roleOf, type Caller } from "../auth/caller.js";
import type { RoleColumn, TokenKindColumn } from "../store/schema.js";
import { permissionsOfRole, permissionsOfTokenKind, TOKEN_KIND_PERMISSIONS, type Permission } from "../auth/permissions.js";

/** What decides whether someone may hand out a role: a caller now, or an invitation's issuer as it stands today. */
export interface Grantor {
  platformAdmin: boolean;
  /** Required, not optional: a Caller must go through grantorOf, so a person's role is never dropped by accident. */
  role: RoleColumn | undefined;
  permissions: ReadonlySet<Permission>;
}

/** A caller as a grantor: a person brings their role, a token none. */
export const grantorOf = (caller: Caller): Grantor => ({
  platformAdmin: caller.platformAdmin,
  role: roleOf(caller),
  permissions: caller.permissions,
});

const ROLES: readonly RoleColumn[] = ["owner", "admin", "operator", "builder", "viewer"];
const TOKEN_KINDS = Object.keys(TOKEN_KIND_PERMISSIONS) as TokenKindColumn[];

/**
 * Owners are the tenant's last line of control: only an owner, or a platform
 * administrator (who seats a tenant's first owner), may grant, take away or
 * remove the owner role. Not an admin, nor any token an admin could mint.
 */
export function holdsOwnerPower(g: Grantor): boolean {
  return g.platformAdmin || g.role === "owner";
}

/** Whether `g` may give someone `role`: managing people, and owner power for "owner". */
export function mayGrantRole(g: Grantor, role: RoleColumn): boolean {
  return g.permissions.has("users.manage") && (role !== "owner" || holdsOwnerPower(g));
}

export function personGrantor(role: RoleColumn): Grantor {
  return { platformAdmin: false, role, permissions: permissionsOfRole(role) };
}

/** The roles a member with `role` may not grant: their invitations of these die when they are moved to it. */
export function rolesBeyond(role: RoleColumn): RoleColumn[] {
  return ROLES.filter((r) => !mayGrantRole(personGrantor(role), r));
}

/** The token kinds a member with `role` could not mint (one permission or more it lacks): theirs are revoked when moved to it. */
export function tokenKindsBeyond(role: RoleColumn): TokenKindColumn[] {
  const held = permissionsOfRole(role);
  return TOKEN_KINDS.filter((k) => [...permissionsOfTokenKind(k)].some((p) => !held.has(p)));
}

/** Role order for acceptance: an invitation may raise a member's role, never lower it. */
export function roleRank(role: RoleColumn): number {
  return ROLES.length - ROLES.indexOf(role);
}
