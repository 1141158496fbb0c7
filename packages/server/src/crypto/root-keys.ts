import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../log.js";

export interface RootKey {
  /** Fingerprint for the database: identifies the key, reveals nothing of it. */
  id: string;
  key: Buffer;
}

/** The current root key wraps new and re-wrapped data keys; previous ones only unwrap. */
export interface RootKeyRing {
  current: RootKey;
  previous: RootKey[];
  find(id: string): RootKey | undefined;
}

export function rootKeyOf(key: Buffer): RootKey {
  return { id: createHash("sha256").update("engine-root-key-id\0").update(key).digest("hex").slice(0, 16), key };
}

/** Keys are given as 32 bytes in base64 or hex. */
export function parseRootKey(text: string): Buffer | undefined {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  return key.length === 32 ? key : undefined;
}

export function createRootKeyRing(current: Buffer, previous: Buffer[] = []): RootKeyRing {
  const all = [rootKeyOf(current), ...previous.map(rootKeyOf)];
  return { current: all[0], previous: all.slice(1), find: (id) => all.find((k) => k.id === id) };
}

/**
 * The embedded default: a root key generated once into the data directory,
 * readable by the owner only. Returns whether it was just created, so the
 * caller can say so loudly (losing this file loses every credential).
 */
export function loadOrCreateKeyFile(file: string, opts: { create: boolean }): { key: Buffer; created: boolean } {
  if (existsSync(file) || !opts.create) {
    const key = parseRootKey(readFileSync(file, "utf8"));
    if (!key) throw new Error(`${file} does not hold a 32-byte key in base64 or hex`);
    return { key, created: false };
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { key, created: true };
}

/** Where the root key comes from: the environment, or a key file (created on first start of an embedded server). */
export type RootKeySource = { key: Buffer } | { file: string; createIfMissing: boolean };

/**
 * The server's root key ring from its configured source, plus the previous
 * keys still needed to open data keys wrapped before a rotation. A key file
 * created here is announced loudly: every credential depends on it.
 */
export function rootKeyRingOf(source: RootKeySource, previous: Buffer[], log: Logger): RootKeyRing {
  if ("key" in source) return createRootKeyRing(source.key, previous);
  const { key, created } = loadOrCreateKeyFile(source.file, { create: source.createIfMissing });
  if (created) {
    log.warn(
      `generated a new root key in ${source.file} (mode 0600). Every credential is encrypted under it: back it up, ` +
        "and for production set ENGINE_CLOUD_MASTER_KEY instead",
      { file: source.file },
    );
  }
  return createRootKeyRing(key, previous);
}
