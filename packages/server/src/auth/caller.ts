import type { Permission } from "./permissions.js";
import { actorLabel, type Actor, type AuthMethod } from "../store/actor.js";
import type { RoleColumn, TokenKindColumn } from "../store/schema.js";

/** What kind of credential the caller presented, and what comes with that kind. */
export type Principal =
  | { kind: "token"; tokenKind: TokenKindColumn }
  | {
      kind: "user";
      /** Their role in the session's tenant; absent once they are no longer a member. */
      role?: RoleColumn;
      authMethod: AuthMethod;
    };

/**
 * Who is calling, however they proved it: API tokens and people's sessions
 * both resolve to this one shape, and the one permission check reads only
 * this.
 */
export interface Caller {
  principal: Principal;
  /** Token id, or the person's user id. */
  principalId: string;
  /** What proved it: the token id, or the session id. Revoking it ends the caller. */
  credentialId: string;
  /** Token label, or the person's email. */
  displayName: string;
  /** The tenant the credential belongs to. */
  homeTenantId: string;
  homeTenantSlug: string;
  /** May act on any tenant it names, and on the platform RPCs. */
  platformAdmin: boolean;
  permissions: ReadonlySet<Permission>;
  /** Projects the credential is limited to; empty means all the tenant allows. */
  projects: readonly string[];
  /** When the credential stops working, if it expires: long-lived streams end then. */
  expiresAt?: Date;
}

/** The caller as the actor of the writes it makes. */
export function actorOf(caller: Caller): Actor {
  const p = caller.principal;
  return p.kind === "token"
    ? { kind: "token", id: caller.principalId, tokenKind: p.tokenKind }
    : { kind: "user", id: caller.principalId, role: p.role, authMethod: p.authMethod };
}

/** "token:<id>" or "user:<id>": how rows record the caller. */
export const actorLabelOf = (caller: Caller): string => actorLabel(actorOf(caller));

/** The token kind, when the caller is a token. */
export const tokenKindOf = (caller: Caller): TokenKindColumn | undefined =>
  caller.principal.kind === "token" ? caller.principal.tokenKind : undefined;

/** The role in the tenant, when the caller is a person. */
export const roleOf = (caller: Caller): RoleColumn | undefined =>
  caller.principal.kind === "user" ? caller.principal.role : undefined;
