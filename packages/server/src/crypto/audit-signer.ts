import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../store/schema.js";
import {
  findServerSecret,
  insertServerSecretIfAbsent,
  inServerTransaction,
  replaceServerSecret,
} from "../store/server-secrets.js";
import { open, seal } from "./aead.js";
import type { RootKeyRing } from "./root-keys.js";

const AUDIT_KEY_NAME = "audit_signing_key";
const AAD = `engine-server-secret\0${AUDIT_KEY_NAME}`;
// PKCS #8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Signs audit checkpoints; the public half is published by AuditService.GetAuditPublicKey. */
export interface AuditSigner {
  /** The first 16 hex digits of SHA-256 over the public key: what a checkpoint names. */
  keyId: string;
  /** SPKI DER. */
  publicKey: Uint8Array;
  sign(text: string): Uint8Array;
}

/**
 * The checkpoint key is an Ed25519 seed kept in the database sealed under the
 * root key (as the token key is: crypto/token-key.ts), so a copy of the
 * database can neither forge a checkpoint nor read the key; whoever can edit
 * the audit tables without the root key cannot re-sign a rewritten chain.
 * Created on first start, under the start-up lock's transaction pattern.
 */
export async function openAuditSigner(db: Kysely<Database>, ring: RootKeyRing): Promise<AuditSigner> {
  const seed = await inServerTransaction(db, async (tx) => {
    await insertServerSecretIfAbsent(tx, AUDIT_KEY_NAME, seal(ring.current.key, randomBytes(32), AAD), ring.current.id);
    const row = await findServerSecret(tx, AUDIT_KEY_NAME);
    if (!row?.rootKeyId) throw new Error("the audit signing key vanished while it was being created");
    const root = ring.find(row.rootKeyId);
    if (!root) {
      throw new Error(
        `the audit signing key is wrapped by root key ${row.rootKeyId}, which this server does not hold; ` +
          "add it to ENGINE_CLOUD_PREVIOUS_MASTER_KEYS",
      );
    }
    return open(root.key, row.value, AAD);
  });
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  return {
    keyId: auditKeyId(publicKey),
    publicKey,
    sign: (text) => sign(null, Buffer.from(text), privateKey),
  };
}

/**
 * Re-wraps the checkpoint key under the current root key (part of `keys
 * rotate-root`, like the token key): the key itself stays, so checkpoints
 * signed before the rotation still verify, and the old root key can go.
 */
export async function rewrapAuditKey(db: Kysely<Database>, ring: RootKeyRing): Promise<boolean> {
  return inServerTransaction(db, async (tx) => {
    const row = await findServerSecret(tx, AUDIT_KEY_NAME, { lock: true });
    if (!row?.rootKeyId || row.rootKeyId === ring.current.id) return false;
    const root = ring.find(row.rootKeyId);
    if (!root) throw new Error(`the audit signing key is wrapped by root key ${row.rootKeyId}, which this server does not hold`);
    const seed = open(root.key, row.value, AAD);
    await replaceServerSecret(tx, AUDIT_KEY_NAME, seal(ring.current.key, seed, AAD), ring.current.id);
    return true;
  });
}

export const auditKeyId = (publicKey: Uint8Array): string => createHash("sha256").update(publicKey).digest("hex").slice(0, 16);

/** Checks a checkpoint's signature with the published public key (SPKI DER). */
export function verifyCheckpointSignature(publicKey: Uint8Array | KeyObject, text: string, signature: Uint8Array): boolean {
  const key =
    publicKey instanceof Uint8Array ? createPublicKey({ key: Buffer.from(publicKey), format: "der", type: "spki" }) : publicKey;
  return verify(null, Buffer.from(text), key, signature);
}
