import type { TokenKindColumn } from "../store/schema.js";

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
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ALL: readonly Permission[] = PERMISSIONS;

/** What each token kind may do in its tenant. One table for machines now, roles later. */
export const TOKEN_KIND_PERMISSIONS: Record<TokenKindColumn, readonly Permission[]> = {
  platform_admin: ALL,
  tenant_admin: ALL,
  runtime: ["projects.check", "credentials.read", "credentials.read_secret", "credentials.write", "sync.read"],
  service: ["projects.read", "projects.check", "credentials.read", "credentials.read_secret", "credentials.write", "sync.read"],
};

export function isPermission(name: string): name is Permission {
  return (PERMISSIONS as readonly string[]).includes(name);
}

const kindSets = Object.fromEntries(
  Object.entries(TOKEN_KIND_PERMISSIONS).map(([kind, perms]) => [kind, new Set(perms)]),
) as unknown as Record<TokenKindColumn, ReadonlySet<Permission>>;

/** The permission set of a token kind, shared (callers must not mutate it). */
export function permissionsOfTokenKind(kind: TokenKindColumn): ReadonlySet<Permission> {
  return kindSets[kind];
}
