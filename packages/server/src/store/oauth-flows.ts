import { sql, type Selectable } from "kysely";
import type { OAuthFlowsTable, Tx } from "./schema.js";

export type OAuthFlowRow = Selectable<OAuthFlowsTable>;

export interface OAuthFlowInsert {
  id: string;
  stateHash: Uint8Array;
  provider: string;
  project: string;
  alias: string;
  redirectUri: string;
  sealedVerifier: Uint8Array | null;
  urlParameters: Record<string, string>;
  actor: string;
  ttlMs: number;
}

export async function insertOAuthFlow(tx: Tx, tenantId: string, f: OAuthFlowInsert): Promise<OAuthFlowRow> {
  return tx
    .insertInto("oauth_flows")
    .values({
      tenant_id: tenantId,
      id: f.id,
      state_hash: f.stateHash,
      provider: f.provider,
      project: f.project,
      alias: f.alias,
      redirect_uri: f.redirectUri,
      sealed_verifier: f.sealedVerifier,
      url_parameters: JSON.stringify(f.urlParameters),
      status: "pending",
      created_by: f.actor,
      // The database's clock, like every other expiry, so processes need not agree.
      expires_at: sql<Date>`now() + ${`${f.ttlMs} milliseconds`}::interval`,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findOAuthFlow(tx: Tx, tenantId: string, id: string): Promise<OAuthFlowRow | undefined> {
  return tx.selectFrom("oauth_flows").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
}

/**
 * The flow a callback's state names, locked, with whether it has expired by
 * the database's clock. Runs on the owner connection: the state is all the
 * callback knows, and it is what names the tenant.
 */
export async function claimOAuthFlowByState(
  tx: Tx,
  stateHash: Uint8Array,
): Promise<(OAuthFlowRow & { expired: boolean }) | undefined> {
  return tx
    .selectFrom("oauth_flows")
    .selectAll()
    .select(sql<boolean>`expires_at <= now()`.as("expired"))
    .where("state_hash", "=", stateHash)
    .forUpdate()
    .executeTakeFirst();
}

export async function finishOAuthFlow(
  tx: Tx,
  tenantId: string,
  id: string,
  outcome:
    | { status: "exchanging" }
    | { status: "completed"; connectionId: string }
    | { status: "failed"; error: string; description: string },
): Promise<void> {
  await tx
    .updateTable("oauth_flows")
    .set({
      status: outcome.status,
      ...(outcome.status === "completed" ? { connection_id: outcome.connectionId } : {}),
      ...(outcome.status === "failed" ? { error: outcome.error, error_description: outcome.description } : {}),
      ...(outcome.status === "exchanging" ? {} : { finished_at: sql`now()` }),
    })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .execute();
}
