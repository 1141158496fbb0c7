import type { Permission } from "../tenancy/permissions.js";
import type { RoleColumn, TokenKindColumn } from "../store/schema.js";

/**
 * Who is calling, however they proved it. Tokens today, sessions of people
 * later: both resolve to this one shape, and the one permission check reads
 * only this.
 */
export interface Caller {
  principalType: "token" | "user";
  /** Token id, or the person's user id. */
  principalId: string;
  /** What proved it: the token id, or the session id. Revoking it ends the caller. */
  credentialId: string;
  /** Token label, or the person's email. */
  displayName: string;
  /** The tenant the credential belongs to. */
  homeTenantId: string;
  homeTenantSlug: string;
  /** For tokens: the kind. */
  tokenKind?: TokenKindColumn;
  /** For people: their role in the tenant. */
  role?: RoleColumn;
  /** May act on any tenant it names, and on the platform RPCs. */
  platformAdmin: boolean;
  permissions: ReadonlySet<Permission>;
  /** Projects the credential is limited to; empty means all the tenant allows. */
  projects: readonly string[];
  /** When the credential stops working, if it expires: long-lived streams end then. */
  expiresAt?: Date;
}

/** "token:<id>": how changes record who made them. */
export function actorOf(caller: Caller): string {
  return `${caller.principalType}:${caller.principalId}`;
}
