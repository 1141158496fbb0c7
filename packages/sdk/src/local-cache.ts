import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ensurePrivateDir, writeFileAtomic } from "./atomic-file.js";
import { engineHome } from "./engine-home.js";
import { CredentialSchema, type Credential } from "@engine-cloud/api";

/**
 * A runtime's credentials as last synced, so it can serve them at once after
 * a restart, also while the server is unreachable.
 */
export interface LocalCacheContents {
  /** The project the credentials were synced for. */
  project: string;
  /**
   * serverFingerprint() of the server and runtime key they came from: revisions mean nothing on another
   * server, and another key may belong to another tenant.
   */
  serverFingerprint: string;
  /** The tenant revision every credential here is current to. */
  revision: bigint;
  credentials: Credential[];
}

/** Why a cache file cannot be used. GCM cannot tell a wrong key from altered bytes, so there is one reason. */
export type CacheCorruptReason = "CACHE_UNREADABLE";

/** The cache file exists but cannot be trusted; nothing of it was used. */
export class CacheCorruptError extends Error {
  override readonly name = "CacheCorruptError";
  readonly reason: CacheCorruptReason = "CACHE_UNREADABLE";
  constructor(
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`the local credential cache ${path} is unusable (${problem}); it will be replaced by a full sync`, options);
  }
}

// File layout: MAGIC | VERSION | nonce (12) | ciphertext | tag (16).
const MAGIC = Buffer.from("ENGC", "ascii");
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 1 + NONCE_BYTES;

/** ~/.engine/cloud-cache-<project>.bin */
export function defaultCachePath(project: string): string {
  // Project names are already file-name safe; this keeps a bad one from escaping the directory.
  return path.join(engineHome(), `cloud-cache-${project.replace(/[^A-Za-z0-9._-]/g, "_")}.bin`);
}

/**
 * Identifies a server, and the runtime key used with it, without storing
 * either in the clear. A cache written under another key is not resumed: the
 * key may be another tenant's, whose revisions and credentials are not these.
 */
export function serverFingerprint(baseUrl: string, token?: string): string {
  const normalized = baseUrl.trim().replace(/\/+$/, "").toLowerCase();
  const hash = createHash("sha256").update(normalized);
  if (token) hash.update("\0").update(token);
  return hash.digest("hex").slice(0, 32);
}

/**
 * The header and the project are authenticated with the ciphertext: a file
 * copied from another project's cache, or with its version byte changed,
 * fails to open instead of being misread.
 */
function additionalData(project: string): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([VERSION]), Buffer.from(project, "utf8")]);
}

interface StoredCache {
  project: string;
  server: string;
  /** A decimal string: JSON has no 64-bit integers. */
  revision: string;
  /** Each credential's protobuf binary, base64: lossless, unknown fields of newer servers included. */
  credentials: string[];
}

/** Encrypts the contents under `key` (32 bytes) with a fresh random nonce. */
export function sealLocalCache(key: Uint8Array, contents: LocalCacheContents): Buffer {
  const stored: StoredCache = {
    project: contents.project,
    server: contents.serverFingerprint,
    revision: contents.revision.toString(),
    credentials: contents.credentials.map((c) => Buffer.from(toBinary(CredentialSchema, c)).toString("base64")),
  };
  // Random 96-bit nonces stay safe for 2^32 writes under one key; a runtime writes once per change.
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(additionalData(contents.project));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(stored), "utf8"), cipher.final()]);
  return Buffer.concat([MAGIC, Buffer.from([VERSION]), nonce, ciphertext, cipher.getAuthTag()]);
}

/** Decrypts and decodes a sealed cache; any flaw is a CacheCorruptError, never partial contents. */
export function openLocalCache(key: Uint8Array, project: string, data: Uint8Array, file = "(memory)"): LocalCacheContents {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length < HEADER_BYTES + TAG_BYTES) throw new CacheCorruptError(file, "the file is truncated");
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new CacheCorruptError(file, "not a cache file");
  const version = bytes[MAGIC.length];
  if (version !== VERSION) {
    throw new CacheCorruptError(file, `format version ${version} is not ${VERSION}; a newer SDK may have written it`);
  }
  const nonce = bytes.subarray(MAGIC.length + 1, HEADER_BYTES);
  const ciphertext = bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce);
    decipher.setAAD(additionalData(project));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (err) {
    throw new CacheCorruptError(
      file,
      "it does not decrypt: it was written under another key or for another project, or it was altered",
      { cause: err },
    );
  }
  try {
    const stored = JSON.parse(plaintext.toString("utf8")) as StoredCache;
    if (stored.project !== project || !Array.isArray(stored.credentials) || typeof stored.server !== "string") {
      throw new Error("unexpected contents");
    }
    return {
      project: stored.project,
      serverFingerprint: stored.server,
      revision: BigInt(stored.revision),
      credentials: stored.credentials.map((c) => fromBinary(CredentialSchema, Buffer.from(c, "base64"))),
    };
  } catch (err) {
    // Authenticated but unreadable: written by a buggy or incompatible writer.
    throw new CacheCorruptError(file, "its contents do not parse", { cause: err });
  }
}

/** The cache at `file`, or undefined if there is none yet. Throws CacheCorruptError for an unusable one. */
export async function readLocalCache(
  file: string,
  key: Uint8Array,
  project: string,
): Promise<LocalCacheContents | undefined> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return openLocalCache(key, project, data, file);
}

/** Replaces the cache at `file` atomically (mode 0600); creates its directory as owner-only if missing. */
export async function writeLocalCache(file: string, key: Uint8Array, contents: LocalCacheContents): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  await writeFileAtomic(file, sealLocalCache(key, contents));
}
