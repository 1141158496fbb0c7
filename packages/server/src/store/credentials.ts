import { sql, type Selectable } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import type { ConnectionLinkColumn, CredentialsTable, CredentialTypeColumn, KeyInfo, Tx } from "./schema.js";

export type CredentialRow = Selectable<CredentialsTable>;

export interface CredentialName {
  project: string;
  provider: string;
  alias: string;
}

export async function findLiveCredential(tx: Tx, tenantId: string, name: CredentialName, lock = false) {
  let q = tx
    .selectFrom("credentials")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("project", "=", name.project)
    .where("provider", "=", name.provider)
    .where("alias", "=", name.alias);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function findCredentialById(tx: Tx, tenantId: string, id: string, lock = false) {
  let q = tx.selectFrom("credentials").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export interface CredentialWrite extends CredentialName {
  id: string;
  type: CredentialTypeColumn;
  identity: Record<string, string>;
  metadata: Record<string, string>;
  scopes: string[];
  keyInfo: KeyInfo;
  sealedKeys: Uint8Array;
  autoRefresh: boolean;
  /** Set by the connector hub only (vault/credentials.ts refuses others' writes to such a row). */
  connectionLink?: ConnectionLinkColumn | null;
  version: number;
  revision: number;
  actor: string;
}

const PG_UNIQUE_VIOLATION = "23505";

/** Inserts version 1 or replaces the live row; a concurrent creator of the same name loses with a conflict. */
export async function writeCredential(tx: Tx, tenantId: string, w: CredentialWrite): Promise<CredentialRow> {
  const values = {
    type: w.type,
    identity: JSON.stringify(w.identity),
    metadata: JSON.stringify(w.metadata),
    scopes: w.scopes,
    key_info: JSON.stringify(w.keyInfo),
    sealed_keys: w.sealedKeys,
    auto_refresh: w.autoRefresh,
    connection_link: w.connectionLink ? JSON.stringify(w.connectionLink) : null,
    version: w.version,
    revision: w.revision,
    updated_by: w.actor,
  };
  if (w.version > 1) {
    return tx
      .updateTable("credentials")
      .set({ ...values, updated_at: sql`now()` })
      .where("tenant_id", "=", tenantId)
      .where("id", "=", w.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  try {
    return await tx
      .insertInto("credentials")
      .values({
        tenant_id: tenantId,
        id: w.id,
        project: w.project,
        provider: w.provider,
        alias: w.alias,
        created_by: w.actor,
        ...values,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if ((err as { code?: string }).code === PG_UNIQUE_VIOLATION) {
      throw new DomainError(
        "aborted",
        ErrorReason.VERSION_CONFLICT,
        "the credential was created concurrently; read it and retry",
      );
    }
    throw err;
  }
}

/** Deletes the row: its tombstone lives in the change log (store/change-log.ts). */
export async function deleteCredential(tx: Tx, tenantId: string, id: string): Promise<void> {
  await tx.deleteFrom("credentials").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
}

export interface CredentialCursor {
  provider: string;
  alias: string;
  project: string;
  id: string;
}

/**
 * Live credentials by (provider, alias, project, id). `visibleTo` keeps those
 * of one project plus the tenant-wide ones; `projects` (a token's scope)
 * keeps those of the listed projects plus the tenant-wide ones;
 * `allowedProjectsOnly` keeps those of projects the tenant's policy allows
 * plus the tenant-wide ones.
 */
export async function listCredentials(
  tx: Tx,
  tenantId: string,
  opts: {
    limit: number;
    after?: CredentialCursor;
    visibleTo?: string;
    provider?: string;
    scope?: readonly string[];
    allowedProjectsOnly?: boolean;
  },
): Promise<CredentialRow[]> {
  let q = tx
    .selectFrom("credentials")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .orderBy("provider")
    .orderBy("alias")
    .orderBy("project")
    .orderBy("id")
    .limit(opts.limit);
  if (opts.visibleTo) q = q.where("project", "in", [opts.visibleTo, ""]);
  if (opts.scope && opts.scope.length > 0) q = q.where("project", "in", [...opts.scope, ""]);
  if (opts.allowedProjectsOnly) {
    q = q.where((eb) =>
      eb.or([
        eb("project", "=", ""),
        eb(
          "project",
          "in",
          eb.selectFrom("projects").select("name").where("tenant_id", "=", tenantId).where("state", "=", "allowed"),
        ),
      ]),
    );
  }
  if (opts.provider) q = q.where("provider", "=", opts.provider);
  if (opts.after) {
    const a = opts.after;
    q = q.where(sql<boolean>`(provider, alias, project, id) > (${a.provider}, ${a.alias}, ${a.project}, ${a.id}::uuid)`);
  }
  return q.execute();
}

/** The credentials with these ids (those that exist): what the change log's entries point at. */
export async function credentialsByIds(tx: Tx, tenantId: string, ids: readonly string[]): Promise<CredentialRow[]> {
  if (ids.length === 0) return [];
  return tx.selectFrom("credentials").selectAll().where("tenant_id", "=", tenantId).where("id", "in", ids).execute();
}

/** The tenant's credentials: what its credential quota counts. */
export async function countLiveCredentials(tx: Tx, tenantId: string): Promise<number> {
  const row = await tx
    .selectFrom("credentials")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("tenant_id", "=", tenantId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
