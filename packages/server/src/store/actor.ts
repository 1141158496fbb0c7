import type { RoleColumn, TokenKindColumn } from "./schema.js";

/** How a person proved who they are. Passwords today; OIDC and SAML sign-in add their methods here. */
export type AuthMethod = "password";

/**
 * Who a write is made by: the thing an audit event names and a row's
 * created_by/updated_by records. Requests act as a token or a person;
 * background work acts as the system under a named job; the first start acts
 * as bootstrap.
 */
export type Actor =
  | { kind: "token"; id: string; tokenKind: TokenKindColumn }
  | { kind: "user"; id: string; role?: RoleColumn; authMethod: AuthMethod }
  | { kind: "system"; job: SystemJob }
  | { kind: "bootstrap" };

/** A background writer's name, as it appears in the log and the audit trail: "system:oauth-refresh". */
export type SystemJob = `system:${string}`;

/** The request a write came from, when it came from one. */
export interface RequestMeta {
  requestId: string;
  /** The connection's peer address. */
  peer: string;
  userAgent: string;
}

/** How rows record the actor: "token:<id>", "user:<id>", "system:<job>", "bootstrap". */
export function actorLabel(actor: Actor): string {
  switch (actor.kind) {
    case "token":
    case "user":
      return `${actor.kind}:${actor.id}`;
    case "system":
      return actor.job;
    case "bootstrap":
      return "bootstrap";
  }
}
