import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { createFileAtomic, ensurePrivateDir } from "./atomic-file.js";
import { CLOUD_ENV, CloudConfigError } from "./cloud-env.js";
import { engineHome } from "./engine-home.js";

/** AES-256 keys are 32 bytes. */
export const CACHE_KEY_BYTES = 32;

/** Where the local cache key lives when neither an option nor ENGINE_CREDENTIAL_KEY gives one. */
export function defaultCacheKeyFile(): string {
  return path.join(engineHome(), "credential.key");
}

/**
 * Reads a key written as 64 hex digits or as base64 (standard or URL-safe)
 * of 32 bytes. Anything else is refused: a short key silently padded would
 * be a weak key.
 */
export function parseCacheKey(text: string, source: string = CLOUD_ENV.credentialKey): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, "hex")
    : /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)
      ? Buffer.from(trimmed, "base64")
      : undefined;
  if (key?.length !== CACHE_KEY_BYTES) {
    throw new CloudConfigError(
      "cacheKey",
      `${source} is not a 32-byte key in hex or base64 (make one with: openssl rand -base64 32)`,
    );
  }
  return key;
}

export interface CacheKeySource {
  /** The key itself: 32 bytes, or their hex or base64. */
  key?: Uint8Array | string;
  /** ENGINE_CREDENTIAL_KEY, as read from the environment. */
  envKey?: string;
  /** Key file to read, or create if missing; default ~/.engine/credential.key. */
  keyFile?: string;
  /** Told when the key file is readable by others than its owner. */
  warn?: (message: string) => void;
}

async function readKeyFile(file: string, warn?: (message: string) => void): Promise<Buffer> {
  const [content, info] = await Promise.all([readFile(file), stat(file)]);
  if (process.platform !== "win32" && (info.mode & 0o077) !== 0) {
    warn?.(`${file} is readable by other users; restrict it with: chmod 600 ${file}`);
  }
  // A raw 32-byte file is accepted too; no 32-character text is a valid hex or base64 key.
  return content.length === CACHE_KEY_BYTES ? content : parseCacheKey(content.toString("utf8"), file);
}

/**
 * The local key, first found of: the option, ENGINE_CREDENTIAL_KEY, the key
 * file. A missing key file is created (mode 0600, directory 0700) with a new
 * random key, so a runtime works out of the box; set ENGINE_CREDENTIAL_KEY
 * where the home directory is not persistent.
 */
export async function loadCacheKey(source: CacheKeySource): Promise<Buffer> {
  if (source.key !== undefined) {
    if (typeof source.key === "string") return parseCacheKey(source.key, "cacheKey");
    if (source.key.length !== CACHE_KEY_BYTES) {
      throw new CloudConfigError("cacheKey", `cacheKey must be ${CACHE_KEY_BYTES} bytes, not ${source.key.length}`);
    }
    return Buffer.from(source.key);
  }
  if (source.envKey) return parseCacheKey(source.envKey);
  const file = source.keyFile ?? defaultCacheKeyFile();
  try {
    return await readKeyFile(file, source.warn);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await ensurePrivateDir(path.dirname(file));
  // Another process may create it first: then its key is the key.
  await createFileAtomic(file, `${randomBytes(CACHE_KEY_BYTES).toString("base64")}\n`);
  return readKeyFile(file, source.warn);
}
