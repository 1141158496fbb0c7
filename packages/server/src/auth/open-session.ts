import type { Transaction } from "kysely";
import { insertSession, type SessionRow } from "../store/sessions.js";
import type { Database } from "../store/schema.js";
import { enterTenant } from "../store/with-tenant.js";
import { displayPrefix, hashToken, mintToken } from "./token-format.js";

export interface SessionPolicy {
  idleMs: number;
  maxMs: number;
}

/**
 * A new session for a person in a tenant; the token is returned once and
 * stored only as a keyed hash. Confines the rest of `tx` to the tenant, so
 * whatever the transaction does across tenants comes before this.
 */
export async function openSession(
  tx: Transaction<Database>,
  tokenKey: Uint8Array,
  policy: SessionPolicy,
  tenantId: string,
  userId: string,
): Promise<{ token: string; session: SessionRow }> {
  const token = mintToken("session", tokenKey);
  const now = Date.now();
  await enterTenant(tx, tenantId);
  const session = await insertSession(tx, {
    tenantId,
    userId,
    secretHash: hashToken(token, tokenKey),
    displayPrefix: displayPrefix(token),
    idleExpiresAt: new Date(now + Math.min(policy.idleMs, policy.maxMs)),
    expiresAt: new Date(now + policy.maxMs),
  });
  return { token, session };
}
