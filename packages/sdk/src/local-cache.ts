import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ensurePrivateDir, writeFileAtomic } from "./atomic-file.js";
import { engineHome } from "./engine-home.js";
import {
  type Credential,
  CredentialSchema,
  type ResourceKind,
  type SyncedResource,
  SyncedResourceSchema,
} from "@engine-cloud/api";
import type { SyncSnapshot } from "./sync-state.js";

/**
 * A runtime's resources as last synced, so it can serve them at once after a
 * restart, also while the server is unreachable.
 */
export interface LocalCacheContents extends SyncSnapshot {
  /** The project the resources were synced for. */
  project: string;
  /**
   * serverFingerprint() of the server and runtime key they came from: revisions mean nothing on another
   * server, and another key may belong to another tenant.
   */
  serverFingerprint: string;
  /**
   * The kinds the contents are complete for, up to their revision; absent means credentials only (what a
   * stream that names no kinds carries, and all a format-1 file holds). Resuming a stream that wants a kind
   * not listed here from this revision would never receive that kind's older resources.
   */
  kinds?: ResourceKind[];
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

/**
 * The cache file is in a format newer than this SDK reads: written by a newer
 * SDK, which a rollback or a second runtime sharing the file left behind.
 * Nothing of it was used, and it is not to be overwritten: it is not this
 * SDK's to discard.
 */
export class CacheVersionError extends Error {
  override readonly name = "CacheVersionError";
  readonly reason = "CACHE_FORMAT_NEWER";
  constructor(
    readonly path: string,
    /** The format the file is in. */
    readonly format: number,
    /** The newest format this SDK reads. */
    readonly supported: number,
  ) {
    super(
      `the local credential cache ${path} is in format ${format}, newer than this SDK reads (${supported}); ` +
        `it was not used and is left as it is: upgrade the SDK, or remove the file or give this runtime its own cache path`,
    );
  }
}

// File layout: MAGIC | FORMAT | nonce (12) | ciphertext | tag (16). The format byte is the file's version:
// 1 = a JSON list of credentials (the SDK before resource kinds; packages/sdk/testdata/cache-v1.bin),
// 2 = resources of any kind, each tagged with its kind, and the kinds they are complete for.
// Every format up to FORMAT is read; only FORMAT is written, so an older file is upgraded by the next write.
const MAGIC = Buffer.from("ENGC", "ascii");
const FORMAT = 2;
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
 * copied from another project's cache, or with its format byte changed,
 * fails to open instead of being misread.
 */
function additionalData(format: number, project: string): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([format]), Buffer.from(project, "utf8")]);
}

/** The plaintext of every format: JSON, with protobuf binaries in base64 (lossless, newer servers' unknown fields included). */
interface StoredCacheHead {
  project: string;
  server: string;
  /** A decimal string: JSON has no 64-bit integers. */
  revision: string;
}

/** Format 1: credentials only. Read, never written. */
interface StoredCacheV1 extends StoredCacheHead {
  /** Each credential's protobuf binary. */
  credentials: string[];
}

/** Format 2: every resource as a SyncedResource, whose oneof case is its kind. */
interface StoredCacheV2 extends StoredCacheHead {
  /** LocalCacheContents.kinds; absent: credentials only. */
  kinds?: ResourceKind[];
  /** Each resource's SyncedResource binary, credentials included. */
  resources: string[];
}

const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const fromBase64 = (text: string) => Buffer.from(text, "base64");

function toStored(contents: LocalCacheContents): StoredCacheV2 {
  const credentials = contents.credentials.map((value) =>
    create(SyncedResourceSchema, { resource: { case: "credential", value } }),
  );
  return {
    project: contents.project,
    server: contents.serverFingerprint,
    revision: contents.revision.toString(),
    kinds: contents.kinds,
    resources: [...credentials, ...(contents.resources ?? [])].map((r) => toBase64(toBinary(SyncedResourceSchema, r))),
  };
}

/** Decodes the plaintext of a format this SDK reads; throws on anything malformed. */
function fromStored(format: number, project: string, json: string): LocalCacheContents {
  const stored = JSON.parse(json) as StoredCacheV1 & StoredCacheV2;
  const list = format === 1 ? stored.credentials : stored.resources;
  if (stored.project !== project || !Array.isArray(list) || typeof stored.server !== "string") {
    throw new Error("unexpected contents");
  }
  const head = { project: stored.project, serverFingerprint: stored.server, revision: BigInt(stored.revision) };
  if (format === 1) {
    return { ...head, credentials: list.map((c) => fromBinary(CredentialSchema, fromBase64(c))) };
  }
  if (stored.kinds !== undefined && !(Array.isArray(stored.kinds) && stored.kinds.every(Number.isInteger))) {
    throw new Error("unexpected kinds");
  }
  const credentials: Credential[] = [];
  const resources: SyncedResource[] = [];
  for (const entry of list) {
    const r = fromBinary(SyncedResourceSchema, fromBase64(entry));
    if (r.resource.case === "credential") credentials.push(r.resource.value);
    else resources.push(r);
  }
  // Optional fields stay absent when empty, so contents read back exactly as a format-1 caller wrote them.
  return {
    ...head,
    credentials,
    ...(resources.length > 0 ? { resources } : {}),
    ...(stored.kinds !== undefined ? { kinds: stored.kinds } : {}),
  };
}

/** Encrypts the contents under `key` (32 bytes) with a fresh random nonce. */
export function sealLocalCache(key: Uint8Array, contents: LocalCacheContents): Buffer {
  // Random 96-bit nonces stay safe for 2^32 writes under one key; a runtime writes once per change.
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(additionalData(FORMAT, contents.project));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(toStored(contents)), "utf8"), cipher.final()]);
  return Buffer.concat([MAGIC, Buffer.from([FORMAT]), nonce, ciphertext, cipher.getAuthTag()]);
}

/**
 * Decrypts and decodes a sealed cache of any format up to the current one;
 * any flaw is a CacheCorruptError, never partial contents. A newer format is
 * a CacheVersionError.
 */
export function openLocalCache(key: Uint8Array, project: string, data: Uint8Array, file = "(memory)"): LocalCacheContents {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length < HEADER_BYTES + TAG_BYTES) throw new CacheCorruptError(file, "the file is truncated");
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new CacheCorruptError(file, "not a cache file");
  const format = bytes[MAGIC.length];
  if (format > FORMAT) throw new CacheVersionError(file, format, FORMAT);
  if (format < 1) throw new CacheCorruptError(file, `format ${format} does not exist`);
  const nonce = bytes.subarray(MAGIC.length + 1, HEADER_BYTES);
  const ciphertext = bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce);
    decipher.setAAD(additionalData(format, project));
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
    return fromStored(format, project, plaintext.toString("utf8"));
  } catch (err) {
    // Authenticated but unreadable: written by a buggy or incompatible writer.
    throw new CacheCorruptError(file, "its contents do not parse", { cause: err });
  }
}

/**
 * The cache at `file`, or undefined if there is none yet. Throws
 * CacheCorruptError for an unusable one, CacheVersionError for one a newer SDK wrote.
 */
export async function readLocalCache(file: string, key: Uint8Array, project: string): Promise<LocalCacheContents | undefined> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return openLocalCache(key, project, data, file);
}

/**
 * Replaces the cache at `file` atomically (mode 0600), in the current format;
 * creates its directory as owner-only if missing.
 */
export async function writeLocalCache(file: string, key: Uint8Array, contents: LocalCacheContents): Promise<void> {
  await ensurePrivateDir(path.dirname(file));
  await writeFileAtomic(file, sealLocalCache(key, contents));
}
