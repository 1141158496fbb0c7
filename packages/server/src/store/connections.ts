import { sql, type Selectable } from "kysely";
import type { ConnectionsTable, Tx } from "./schema.js";

export type ConnectionRow = Selectable<ConnectionsTable>;

export async function findConnection(tx: Tx, tenantId: string, id: string, lock = false): Promise<ConnectionRow | undefined> {
  let q = tx.selectFrom("connections").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function findConnectionOfAccount(
  tx: Tx,
  tenantId: string,
  provider: string,
  externalAccount: string,
): Promise<ConnectionRow | undefined> {
  return tx
    .selectFrom("connections")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("provider", "=", provider)
    .where("external_account", "=", externalAccount)
    .forUpdate()
    .executeTakeFirst();
}

/** The live connection with this name (project, provider, alias), whichever account it is. */
export async function findLiveConnectionNamed(
  tx: Tx,
  tenantId: string,
  name: { project: string; provider: string; alias: string },
) {
  return tx
    .selectFrom("connections")
    .select(["id"])
    .where("tenant_id", "=", tenantId)
    .where("project", "=", name.project)
    .where("provider", "=", name.provider)
    .where("alias", "=", name.alias)
    .where("status", "<>", "disconnected")
    .executeTakeFirst();
}

/** Connections that hold a grant (not disconnected): what tenant_connections bounds. */
export async function countLiveConnections(tx: Tx, tenantId: string): Promise<number> {
  const row = await tx
    .selectFrom("connections")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("tenant_id", "=", tenantId)
    .where("status", "<>", "disconnected")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function listConnections(
  tx: Tx,
  tenantId: string,
  opts: { limit: number; after?: { provider: string; alias: string; project: string; id: string }; provider?: string },
): Promise<ConnectionRow[]> {
  let q = tx.selectFrom("connections").selectAll().where("tenant_id", "=", tenantId);
  if (opts.provider) q = q.where("provider", "=", opts.provider);
  if (opts.after) {
    const a = opts.after;
    q = q.where(sql<boolean>`(provider, alias, project, id) > (${a.provider}, ${a.alias}, ${a.project}, ${a.id}::uuid)`);
  }
  return q.orderBy("provider").orderBy("alias").orderBy("project").orderBy("id").limit(opts.limit).execute();
}

/**
 * A connect or a disconnect replaces the grant under any refresh in flight:
 * the lease generation moves on, so that refresh's commit is fenced off
 * (store/connection-refresh.ts), and its attempt marker no longer applies.
 */
const refreshFenced = {
  refresh_holder: null,
  refresh_lease_until: null,
  refresh_lease_generation: sql<number>`refresh_lease_generation + 1`,
  refresh_attempt_id: null,
  refresh_attempt_at: null,
};

/** A new token set from a connect: the grant replaces whatever the account had. */
export interface GrantWrite {
  id: string;
  provider: string;
  project: string;
  alias: string;
  externalAccount: string;
  scopes: string[];
  metadata: Record<string, string>;
  urlParameters: Record<string, string>;
  sealedTokens: Uint8Array;
  sharedApp: boolean;
  accessExpiresAt: Date;
  nextRefreshAt: Date | null;
  generation: number;
  actor: string;
}

export async function writeGrant(tx: Tx, tenantId: string, w: GrantWrite, existing: boolean): Promise<ConnectionRow> {
  const values = {
    project: w.project,
    alias: w.alias,
    status: "active" as const,
    status_reason: "",
    status_description: "",
    scopes: w.scopes,
    metadata: JSON.stringify(w.metadata),
    url_parameters: JSON.stringify(w.urlParameters),
    sealed_tokens: w.sealedTokens,
    shared_app: w.sharedApp,
    access_expires_at: w.accessExpiresAt,
    last_refresh_at: sql<Date>`now()`,
    next_refresh_at: w.nextRefreshAt,
    generation: w.generation,
    updated_by: w.actor,
  };
  if (existing) {
    return tx
      .updateTable("connections")
      .set({ ...values, ...refreshFenced, refresh_failures: 0, updated_at: sql`now()` })
      .where("tenant_id", "=", tenantId)
      .where("id", "=", w.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  return tx
    .insertInto("connections")
    .values({
      tenant_id: tenantId,
      id: w.id,
      provider: w.provider,
      external_account: w.externalAccount,
      created_by: w.actor,
      ...values,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Erases the tokens and stops refreshing; the row stays so a reconnect of the account keeps its id. */
export async function disconnectConnection(tx: Tx, tenantId: string, id: string, actor: string): Promise<ConnectionRow> {
  return tx
    .updateTable("connections")
    .set({
      status: "disconnected",
      status_reason: "",
      status_description: "",
      sealed_tokens: null,
      access_expires_at: null,
      next_refresh_at: null,
      ...refreshFenced,
      updated_at: sql`now()`,
      updated_by: actor,
    })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
