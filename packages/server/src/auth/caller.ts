import type { Permission } from "../tenancy/permissions.js";
import type { TokenKindColumn } from "../store/schema.js";

/**
 * Who is calling, however they proved it. Tokens today, sessions of people
 * later: both resolve to this one shape, and the one permission check reads
 * only this.
 */
export interface Caller {
  principalType: "token";
  /** Token id (later: session id). */
  principalId: string;
  /** Token label (later: the person's email). */
  displayName: string;
  /** The tenant the credential belongs to. */
  homeTenantId: string;
  homeTenantSlug: string;
  tokenKind: TokenKindColumn;
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
