import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadCacheKey, parseCacheKey } from "./cache-key.js";
import { CloudConfigError } from "./cloud-env.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "engine-key-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("local cache key", () => {
  it("reads ENGINE_CREDENTIAL_KEY as hex or base64", () => {
    const key = randomBytes(32);
    expect(parseCacheKey(key.toString("hex"))).toEqual(key);
    expect(parseCacheKey(key.toString("base64"))).toEqual(key);
    expect(parseCacheKey(key.toString("base64url"))).toEqual(key);
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => parseCacheKey(randomBytes(16).toString("hex"))).toThrow(CloudConfigError);
    expect(() => parseCacheKey(randomBytes(31).toString("base64"))).toThrow(/openssl rand -base64 32/);
    expect(() => parseCacheKey("correct horse battery staple")).toThrow(CloudConfigError);
  });

  it("prefers the option, then the environment, then the key file", async () => {
    const [option, fromEnv] = [randomBytes(32), randomBytes(32)];
    const keyFile = path.join(dir, "credential.key");
    expect(await loadCacheKey({ key: option, envKey: fromEnv.toString("hex"), keyFile })).toEqual(option);
    expect(await loadCacheKey({ envKey: fromEnv.toString("hex"), keyFile })).toEqual(fromEnv);
  });

  it("creates a missing key file, owner-only, and reuses it", async () => {
    const keyFile = path.join(dir, ".engine", "credential.key");
    const created = await loadCacheKey({ keyFile });
    expect(created).toHaveLength(32);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(keyFile)).mode & 0o777).toBe(0o700);
    expect(await loadCacheKey({ keyFile })).toEqual(created);
  });

  it("gives every process racing to create the key file the same key", async () => {
    const keyFile = path.join(dir, "credential.key");
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadCacheKey({ keyFile })));
    for (const k of keys) expect(k).toEqual(keys[0]);
  });

  it("warns about a key file others can read", async () => {
    const keyFile = path.join(dir, "credential.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o644 });
    const warnings: string[] = [];
    await loadCacheKey({ keyFile, warn: (m) => warnings.push(m) });
    expect(warnings.join()).toMatch(/chmod 600/);
  });
});
