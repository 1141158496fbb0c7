import { randomBytes } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../store/schema.js";
import {
  findServerSecret,
  insertServerSecretIfAbsent,
  inServerTransaction,
  replaceServerSecret,
} from "../store/server-secrets.js";
import { open, seal } from "./aead.js";
import type { RootKeyRing } from "./root-keys.js";

const TOKEN_KEY_NAME = "token_hmac_key";
const AAD = `engine-server-secret\0${TOKEN_KEY_NAME}`;

/** The token key cannot be opened with the root keys this server holds. */
export class TokenKeyUnavailable extends Error {}

/**
 * The token key keys every token's stored hash and checksum. Kept in the
 * database in plaintext, a copy of the database would let anyone test guesses
 * of a human-chosen ENGINE_CLOUD_TOKEN offline (finding L9). So it is stored
 * sealed under the root key, which never touches the database, like a tenant
 * data key. It is random and separate from the root key, not derived from it:
 * a derived key would change with `keys rotate-root` and invalidate every
 * token; a sealed one is only re-wrapped, so tokens live across rotations.
 *
 * Called under the start-up lock. Creates the key on an empty database, and
 * seals a key an earlier version stored in plaintext (its tokens keep working).
 */
export async function openTokenKey(
  tx: Transaction<Database>,
  ring: RootKeyRing,
): Promise<{ key: Buffer; sealedLegacy: boolean }> {
  await insertServerSecretIfAbsent(tx, TOKEN_KEY_NAME, seal(ring.current.key, randomBytes(32), AAD), ring.current.id);
  const row = await findServerSecret(tx, TOKEN_KEY_NAME);
  if (!row) throw new Error("the token key vanished while it was being created");
  if (row.rootKeyId === null) {
    const key = Buffer.from(row.value);
    await sealUnder(tx, ring, key);
    return { key, sealedLegacy: true };
  }
  return { key: unwrap(ring, row.value, row.rootKeyId), sealedLegacy: false };
}

/** Re-wraps the token key under the current root key (part of `keys rotate-root`); the key itself stays. */
export async function rewrapTokenKey(db: Kysely<Database>, ring: RootKeyRing): Promise<boolean> {
  return inServerTransaction(db, async (tx) => {
    const row = await findServerSecret(tx, TOKEN_KEY_NAME, { lock: true });
    if (!row || row.rootKeyId === ring.current.id) return false;
    const key = row.rootKeyId === null ? Buffer.from(row.value) : unwrap(ring, row.value, row.rootKeyId);
    await sealUnder(tx, ring, key);
    return true;
  });
}

async function sealUnder(tx: Transaction<Database>, ring: RootKeyRing, key: Buffer): Promise<void> {
  await replaceServerSecret(tx, TOKEN_KEY_NAME, seal(ring.current.key, key, AAD), ring.current.id);
}

function unwrap(ring: RootKeyRing, sealed: Uint8Array, rootKeyId: string): Buffer {
  const root = ring.find(rootKeyId);
  if (!root) {
    throw new TokenKeyUnavailable(
      `the token key is wrapped by root key ${rootKeyId}, which this server does not hold; ` +
        "add it to ENGINE_CLOUD_PREVIOUS_MASTER_KEYS",
    );
  }
  try {
    return open(root.key, sealed, AAD);
  } catch (err) {
    throw new TokenKeyUnavailable(`the token key does not open under root key ${rootKeyId}: ${(err as Error).message}`);
  }
}
