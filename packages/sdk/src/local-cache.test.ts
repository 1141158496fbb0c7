import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CACHE_V1_CONTENTS, CACHE_V1_FILE, CACHE_V1_KEY } from "../testdata/cache-v1.js";
import {
  CredentialKeySchema,
  CredentialSchema,
  CredentialType,
  ProjectSchema,
  ProjectState,
  ResourceKind,
  SyncedResourceSchema,
} from "@engine-cloud/api";
import {
  CacheCorruptError,
  CacheVersionError,
  readLocalCache,
  serverFingerprint,
  writeLocalCache,
  type LocalCacheContents,
} from "./local-cache.js";

let dir: string;
let file: string;
const key = randomBytes(32);

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "engine-cache-test-"));
  file = path.join(dir, "cloud-cache-acme.bin");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const contents = (revision = 42n): LocalCacheContents => ({
  project: "acme",
  serverFingerprint: serverFingerprint("http://127.0.0.1:7070"),
  revision,
  credentials: [
    create(CredentialSchema, {
      id: "7f9c1b3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
      project: "acme",
      provider: "google",
      alias: "work",
      type: CredentialType.OAUTH2,
      keys: { access_token: create(CredentialKeySchema, { value: "ya29.secret" }) },
      identity: { email: "ops@acme.com" },
      version: 3n,
      revision,
    }),
  ],
});

async function expectUnreadable(read: Promise<unknown>) {
  const err = await read.then(
    () => expect.fail("expected the cache to be refused"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CacheCorruptError);
  expect((err as CacheCorruptError).reason).toBe("CACHE_UNREADABLE");
}

describe("local credential cache", () => {
  it("reads back exactly what it wrote", async () => {
    await writeLocalCache(file, key, contents());
    expect(await readLocalCache(file, key, "acme")).toEqual(contents());
  });

  it("treats a missing file as an empty cache", async () => {
    expect(await readLocalCache(file, key, "acme")).toBeUndefined();
  });

  it("never stores a secret in the clear", async () => {
    await writeLocalCache(file, key, contents());
    const raw = readFileSync(file);
    expect(raw.includes("ya29.secret")).toBe(false);
    expect(raw.includes("ops@acme.com")).toBe(false);
  });

  it("refuses a file with one byte changed", async () => {
    await writeLocalCache(file, key, contents());
    const raw = readFileSync(file);
    raw[raw.length - 20] ^= 0x01;
    writeFileSync(file, raw);
    await expectUnreadable(readLocalCache(file, key, "acme"));
  });

  it("refuses a file whose header was changed", async () => {
    await writeLocalCache(file, key, contents());
    const raw = readFileSync(file);
    raw[6] ^= 0x80; // a nonce byte
    writeFileSync(file, raw);
    await expectUnreadable(readLocalCache(file, key, "acme"));
  });

  it("refuses a file written under another key", async () => {
    await writeLocalCache(file, key, contents());
    await expectUnreadable(readLocalCache(file, randomBytes(32), "acme"));
  });

  it("refuses another project's cache", async () => {
    await writeLocalCache(file, key, contents());
    await expectUnreadable(readLocalCache(file, key, "other"));
  });

  it("refuses a truncated file, at any length", async () => {
    await writeLocalCache(file, key, contents());
    const raw = readFileSync(file);
    for (const length of [0, 3, 10, 20, raw.length - 17, raw.length - 1]) {
      writeFileSync(file, raw.subarray(0, length));
      await expectUnreadable(readLocalCache(file, key, "acme"));
    }
  });

  it("refuses a file that is not a cache", async () => {
    writeFileSync(file, "x".repeat(200));
    await expectUnreadable(readLocalCache(file, key, "acme"));
  });

  it("replaces the file atomically, leaving no temp files", async () => {
    await writeLocalCache(file, key, contents(1n));
    await Promise.all([writeLocalCache(file, key, contents(2n)), writeLocalCache(file, key, contents(3n))]);
    expect(readdirSync(dir)).toEqual(["cloud-cache-acme.bin"]);
    expect([2n, 3n]).toContain((await readLocalCache(file, key, "acme"))!.revision);
  });

  it("writes the file readable by its owner only", async () => {
    await writeLocalCache(file, key, contents());
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("creates a missing directory readable by its owner only", async () => {
    const nested = path.join(dir, "home", ".engine", "cache.bin");
    await writeLocalCache(nested, key, contents());
    expect(statSync(path.dirname(nested)).mode & 0o777).toBe(0o700);
  });

  it("uses a fresh nonce for every write", async () => {
    await writeLocalCache(file, key, contents());
    const first = readFileSync(file);
    await writeLocalCache(file, key, contents());
    expect(readFileSync(file).equals(first)).toBe(false);
  });
});

describe("local cache format", () => {
  /** The byte after the magic: the file's format. */
  const FORMAT_BYTE = 4;

  it("reads a cache written by the SDK before resource kinds (format 1) with the same credentials and revision", async () => {
    copyFileSync(CACHE_V1_FILE, file);
    expect(readFileSync(file)[FORMAT_BYTE]).toBe(1);
    expect(await readLocalCache(file, CACHE_V1_KEY, "acme")).toEqual(CACHE_V1_CONTENTS);
  });

  it("upgrades a format-1 cache to format 2 when it is next written", async () => {
    copyFileSync(CACHE_V1_FILE, file);
    await writeLocalCache(file, CACHE_V1_KEY, (await readLocalCache(file, CACHE_V1_KEY, "acme"))!);
    expect(readFileSync(file)[FORMAT_BYTE]).toBe(2);
    expect(await readLocalCache(file, CACHE_V1_KEY, "acme")).toEqual(CACHE_V1_CONTENTS);
  });

  it("keeps resources of other kinds and the kinds they are complete for", async () => {
    const project = create(ProjectSchema, { name: "acme", state: ProjectState.DENIED, updatedBy: "token:1" });
    const withProject: LocalCacheContents = {
      ...contents(),
      kinds: [ResourceKind.CREDENTIAL, ResourceKind.PROJECT],
      resources: [create(SyncedResourceSchema, { resource: { case: "project", value: project } })],
    };
    await writeLocalCache(file, key, withProject);
    expect(await readLocalCache(file, key, "acme")).toEqual(withProject);
  });

  it("refuses a cache in a newer format with a CacheVersionError, and leaves the file as it was", async () => {
    await writeLocalCache(file, key, contents());
    const raw = readFileSync(file);
    raw[FORMAT_BYTE] = 3;
    writeFileSync(file, raw);
    const err = await readLocalCache(file, key, "acme").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheVersionError);
    expect(err).toMatchObject({ reason: "CACHE_FORMAT_NEWER", format: 3, supported: 2, path: file });
    expect((err as Error).message).toMatch(/left as it is/);
    expect(readFileSync(file).equals(raw)).toBe(true);
  });

  it("refuses a current file relabelled as format 1: the format byte is authenticated", async () => {
    await writeLocalCache(file, key, contents());
    const raw = readFileSync(file);
    raw[FORMAT_BYTE] = 1;
    writeFileSync(file, raw);
    await expectUnreadable(readLocalCache(file, key, "acme"));
  });
});
