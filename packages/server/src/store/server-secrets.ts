import type { Kysely, Transaction } from "kysely";
import type { Database, Tx } from "./schema.js";

/** A server-wide secret as stored: sealed under root key `rootKeyId`, or plaintext when that is null (before migration 7). */
export interface StoredServerSecret {
  value: Uint8Array;
  rootKeyId: string | null;
}

/** Stores `value` under `name` unless a secret of that name exists: the first server to start wins. */
export async function insertServerSecretIfAbsent(tx: Tx, name: string, value: Uint8Array, rootKeyId: string): Promise<void> {
  await tx
    .insertInto("server_secrets")
    .values({ name, value, root_key_id: rootKeyId })
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
}

export async function findServerSecret(
  tx: Tx,
  name: string,
  opts: { lock?: boolean } = {},
): Promise<StoredServerSecret | undefined> {
  let q = tx.selectFrom("server_secrets").select(["value", "root_key_id"]).where("name", "=", name);
  if (opts.lock) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return row && { value: row.value, rootKeyId: row.root_key_id };
}

export async function replaceServerSecret(tx: Tx, name: string, value: Uint8Array, rootKeyId: string): Promise<void> {
  await tx
    .updateTable("server_secrets")
    .set({ value, root_key_id: rootKeyId, rewrapped_at: new Date() })
    .where("name", "=", name)
    .execute();
}

/** The owner connection's own transaction, for secrets read outside the start-up lock. */
export function inServerTransaction<T>(db: Kysely<Database>, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn);
}
