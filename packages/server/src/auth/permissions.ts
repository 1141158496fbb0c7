import type { RoleColumn, TokenKindColumn } from "../store/schema.js";

/**
 * Every tenant permission an RPC can declare with `option (engine.cloud.v1.access)`.
 * The server refuses to start if an RPC names a permission not listed here.
 */
export const PERMISSIONS = [
  "tokens.read",
  "tokens.create",
  "tokens.revoke",
  "projects.read",
  "projects.write",
  "projects.check",
  "credentials.read",
  "credentials.read_secret",
  "credentials.write",
  "sync.read",
  "users.read",
  "users.manage",
  "connections.read",
  "connections.write",
  "oauth_apps.read",
  "oauth_apps.write",
  "runtimes.read",
  "audit.read",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ALL: readonly Permission[] = PERMISSIONS;

/** What each token kind may do in its tenant; people get theirs from their role (ROLE_PERMISSIONS). */
export const TOKEN_KIND_PERMISSIONS: Record<TokenKindColumn, readonly Permission[]> = {
  platform_admin: ALL,
  tenant_admin: ALL,
  runtime: ["projects.check", "credentials.read", "credentials.read_secret", "credentials.write", "sync.read"],
  service: [
    "projects.read",
    "projects.check",
    "credentials.read",
    "credentials.read_secret",
    "credentials.write",
    "sync.read",
    "runtimes.read",
  ],
};

export function isPermission(name: string): name is Permission {
  return (PERMISSIONS as readonly string[]).includes(name);
}

/**
 * What each tenant role may do; docs/MULTI_TENANT.md is the specification
 * and the authorization matrix test holds the server to it. Owners and admins
 * hold the same permissions; only an owner may grant, take away or remove the
 * owner role (checked by UserService).
 */
export const ROLE_PERMISSIONS: Record<RoleColumn, readonly Permission[]> = {
  owner: ALL,
  admin: ALL,
  operator: [
    "projects.read",
    "projects.check",
    "credentials.read",
    "users.read",
    "connections.read",
    "oauth_apps.read",
    "runtimes.read",
  ],
  builder: ["projects.read"],
  viewer: ["projects.read"],
};

const roleSets = Object.fromEntries(
  Object.entries(ROLE_PERMISSIONS).map(([role, perms]) => [role, new Set(perms)]),
) as unknown as Record<RoleColumn, ReadonlySet<Permission>>;

export function permissionsOfRole(role: RoleColumn): ReadonlySet<Permission> {
  return roleSets[role];
}

const kindSets = Object.fromEntries(
  Object.entries(TOKEN_KIND_PERMISSIONS).map(([kind, perms]) => [kind, new Set(perms)]),
) as unknown as Record<TokenKindColumn, ReadonlySet<Permission>>;

/** The permission set of a token kind, shared (callers must not mutate it). */
export function permissionsOfTokenKind(kind: TokenKindColumn): ReadonlySet<Permission> {
  return kindSets[kind];
}
