import type { Transaction } from "kysely";
import { lockMembershipForShare } from "../store/memberships.js";
import type { Database, RoleColumn } from "../store/schema.js";
import { lockTokenForShare } from "../store/tokens.js";
import { lockPlatformAdminPersonForShare } from "../store/users.js";
import { permissionsOfTokenKind } from "../auth/permissions.js";
import { mayGrantRole, personGrantor } from "./role-grants.js";

const ACTOR = /^(user|token):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * Whether whoever issued an invitation may still grant its role, as they stand
 * now: a person still a member since before the invitation, not disabled, with
 * a role that may grant it; a token not revoked or expired whose kind may. An
 * invitation is a deferred grant, so it is worth no more than its issuer's
 * right at the moment it is used (a removed admin must not re-enter with a code
 * minted before the removal). The issuer's row stays locked FOR SHARE until the
 * caller's transaction ends, so a removal racing the acceptance waits for it or
 * wins outright. Runs on the owner connection: a platform administrator's token
 * lives in the operator tenant.
 */
export async function issuerMayGrant(
  tx: Transaction<Database>,
  invitation: { tenant_id: string; role: RoleColumn; created_by: string; created_at: Date },
): Promise<boolean> {
  const [, kind, id] = ACTOR.exec(invitation.created_by) ?? [];
  if (kind === "user") {
    // A platform administrator person seats owners of tenants they are no member of, like a platform admin token.
    if (await lockPlatformAdminPersonForShare(tx, id!)) return true;
    const m = await lockMembershipForShare(tx, invitation.tenant_id, id!);
    if (!m || m.disabled_at || m.created_at > invitation.created_at) return false;
    return mayGrantRole(personGrantor(m.role), invitation.role);
  }
  if (kind === "token") {
    const t = await lockTokenForShare(tx, id!);
    if (!t || t.revoked_at || (t.expires_at && t.expires_at.getTime() <= Date.now())) return false;
    if (t.kind === "platform_admin") return true;
    return (
      t.tenant_id === invitation.tenant_id &&
      mayGrantRole({ platformAdmin: false, role: undefined, permissions: permissionsOfTokenKind(t.kind) }, invitation.role)
    );
  }
  return false;
}
