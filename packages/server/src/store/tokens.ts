import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { runCompiledOnce } from "./compiled-once.js";
import type { Database, Executor, TokenKindColumn, TokensTable, TenantStateColumn } from "./schema.js";

export type TokenRow = Omit<Selectable<TokensTable>, "secret_hash">;

const tokenColumns = [
  "tenant_id",
  "id",
  "kind",
  "label",
  "display_prefix",
  "free_form",
  "projects",
  "created_at",
  "created_by",
  "expires_at",
  "revoked_at",
  "last_used_at",
] as const;

export interface TokenWithTenant extends TokenRow {
  tenant_slug: string;
  tenant_state: TenantStateColumn;
}

/**
 * Finds tokens by their keyed hashes, across tenants: the tenant is not known
 * until the token is. This and the bootstrap are the only reads of tenant
 * tables outside a tenant transaction, and they run on the owner connection.
 * Many at once: the verifier batches the cache misses of one event-loop turn.
 */
export async function findTokensByHashes(db: Kysely<Database>, hashes: Uint8Array[]): Promise<Map<string, TokenWithTenant>> {
  const rows = await runCompiledOnce(
    db,
    // Batches of every size up to 32 keep their SQL; a larger one (a reconnect storm) spreads the building over many tokens.
    hashes.length <= 32 ? `findTokensByHashes/${hashes.length}` : undefined,
    () =>
      db
        .selectFrom("tokens")
        .innerJoin("tenants", "tenants.id", "tokens.tenant_id")
        .select(tokenColumns.map((c) => `tokens.${c}` as const))
        .select(["tokens.secret_hash", "tenants.slug as tenant_slug", "tenants.state as tenant_state"])
        .where("tokens.secret_hash", "in", hashes),
    hashes,
  );
  return new Map(rows.map(({ secret_hash, ...row }) => [Buffer.from(secret_hash).toString("base64"), row]));
}

export async function freeFormTokenHashes(db: Kysely<Database>): Promise<Uint8Array[]> {
  const rows = await db.selectFrom("tokens").select("secret_hash").where("free_form", "=", true).execute();
  return rows.map((r) => r.secret_hash);
}

export interface NewToken {
  tenantId: string;
  kind: TokenKindColumn;
  label: string;
  displayPrefix: string;
  secretHash: Uint8Array;
  freeForm?: boolean;
  projects: string[];
  createdBy: string;
  expiresAt?: Date;
}

export async function insertToken(db: Executor, t: NewToken): Promise<TokenRow> {
  return db
    .insertInto("tokens")
    .values({
      tenant_id: t.tenantId,
      kind: t.kind,
      label: t.label,
      display_prefix: t.displayPrefix,
      secret_hash: t.secretHash,
      free_form: t.freeForm ?? false,
      projects: t.projects,
      created_by: t.createdBy,
      expires_at: t.expiresAt ?? null,
    })
    .returning(tokenColumns)
    .executeTakeFirstOrThrow();
}

/**
 * Which tokens a caller may address. Platform admin tokens live in the
 * operator tenant, but they are the platform's credentials, not the tenant's:
 * only a platform administrator sees, reads or revokes them. To anyone else
 * they do not exist (not found, like an unknown id), so an admin of the
 * operator tenant can neither list nor revoke the operator's way in.
 */
export interface TokenReach {
  platform: boolean;
}

export async function getToken(
  tx: Transaction<Database>,
  tenantId: string,
  id: string,
  reach: TokenReach,
): Promise<TokenRow | undefined> {
  return tx
    .selectFrom("tokens")
    .select(tokenColumns)
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .$if(!reach.platform, (q) => q.where("kind", "!=", "platform_admin"))
    .executeTakeFirst();
}

/**
 * Newest first, keyset-paginated on (created_at, id). The cursor is the last
 * row's id and its sort key is read back in the query: a timestamp carried
 * through JSON would lose PostgreSQL's microseconds and repeat or skip rows.
 */
export async function listTokens(
  tx: Transaction<Database>,
  tenantId: string,
  opts: { limit: number; afterId?: string; showInactive: boolean; now: Date; reach: TokenReach },
): Promise<TokenRow[]> {
  let q = tx
    .selectFrom("tokens")
    .select(tokenColumns)
    .where("tenant_id", "=", tenantId)
    .$if(!opts.reach.platform, (qb) => qb.where("kind", "!=", "platform_admin"))
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(opts.limit);
  if (opts.afterId) {
    // A cursor naming a token out of reach finds no row, as if unknown: no paging oracle for platform token ids.
    const cursorKind = opts.reach.platform ? sql`` : sql` AND t.kind <> 'platform_admin'`;
    q = q.where(
      sql<boolean>`(created_at, id) < (SELECT t.created_at, t.id FROM tokens t WHERE t.tenant_id = ${tenantId} AND t.id = ${opts.afterId}::uuid${cursorKind})`,
    );
  }
  if (!opts.showInactive) {
    q = q.where("revoked_at", "is", null).where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", opts.now)]));
  }
  return q.execute();
}

/** Revokes once: an already revoked token keeps its first revocation time. */
export async function revokeToken(
  tx: Transaction<Database>,
  tenantId: string,
  id: string,
  reach: TokenReach,
): Promise<TokenRow | undefined> {
  await tx
    .updateTable("tokens")
    .set({ revoked_at: sql`now()` })
    .where("tenant_id", "=", tenantId)
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .$if(!reach.platform, (q) => q.where("kind", "!=", "platform_admin"))
    .execute();
  return getToken(tx, tenantId, id, reach);
}

export async function revokeTenantTokens(tx: Executor, tenantId: string): Promise<string[]> {
  const rows = await tx
    .updateTable("tokens")
    .set({ revoked_at: sql`now()` })
    .where("tenant_id", "=", tenantId)
    .where("revoked_at", "is", null)
    .returning("id")
    .execute();
  return rows.map((r) => r.id);
}

/** One statement for a whole batch of recently used tokens. */
export async function touchTokens(db: Kysely<Database>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable("tokens")
    .set({ last_used_at: sql`now()` })
    .where("id", "in", ids)
    .execute();
}

export async function hasActivePlatformAdmin(db: Executor): Promise<boolean> {
  const row = await db
    .selectFrom("tokens")
    .select("id")
    .where("kind", "=", "platform_admin")
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", sql<Date>`now()`)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Whether a token with this hash is stored and, if so, whether it still works (neither revoked nor expired). */
export async function tokenStateByHash(db: Executor, hash: Uint8Array): Promise<"active" | "inactive" | undefined> {
  const row = await db
    .selectFrom("tokens")
    .select(sql<boolean>`revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`.as("active"))
    .where("secret_hash", "=", hash)
    .executeTakeFirst();
  if (!row) return undefined;
  return row.active ? "active" : "inactive";
}

/** A token's standing, locked FOR SHARE until the transaction ends, so a revocation meanwhile waits (owner connection). */
export async function lockTokenForShare(tx: Transaction<Database>, id: string) {
  return tx
    .selectFrom("tokens")
    .select(["tenant_id", "kind", "revoked_at", "expires_at"])
    .where("id", "=", id)
    .forShare()
    .executeTakeFirst();
}

/**
 * Revokes the open tokens a person minted (only those of `kinds`, if given;
 * in one tenant, if given) and, whatever their kind, every token minted with
 * those tokens, and so on down: a token minted by a token is as much the
 * person's doing. Returns what it revoked, to announce on the change feed.
 */
export async function revokeTokensMintedBy(
  db: Executor,
  userId: string,
  opts: { tenantId?: string; kinds?: TokenKindColumn[] } = {},
): Promise<Array<{ id: string; tenant_id: string }>> {
  if (opts.kinds?.length === 0) return [];
  const tenant = opts.tenantId ? sql`AND tenant_id = ${opts.tenantId}::uuid` : sql``;
  const kinds = opts.kinds ? sql`AND kind = ANY(${opts.kinds}::text[])` : sql``;
  const { rows } = await sql<{ id: string; tenant_id: string }>`
    WITH RECURSIVE minted (id) AS (
      SELECT id FROM tokens WHERE created_by = ${`user:${userId}`} ${tenant} ${kinds}
      UNION
      SELECT t.id FROM tokens t JOIN minted m ON t.created_by = 'token:' || m.id::text
    )
    UPDATE tokens SET revoked_at = now()
    WHERE id IN (SELECT id FROM minted) AND revoked_at IS NULL
    RETURNING id, tenant_id`.execute(db);
  return rows;
}
