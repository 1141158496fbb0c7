import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CredentialType, TokenKind } from "@engine-cloud/api";
import {
  createSyncProvider,
  readLocalCache,
  type EngineSyncProvider,
  type SyncChange,
  type SyncError,
  type SyncProviderOptions,
} from "@engine-cloud/sdk/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nextChange, nextError, within } from "./support/provider-events.js";
import { createTestDatabase } from "./support/test-database.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// EngineSyncProvider against the real server: Watch, the local cache, reconnects.

/** A change must reach a watching runtime well within this. */
const PROMPTLY_MS = 3_000;

let dir: string;
/** The server most tests share; tests that stop a server start their own. */
let shared: TestServer;
const providers: EngineSyncProvider[] = [];
let counter = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "engine-sync-e2e-"));
  shared = await startTestServer();
});
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await shared?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A project of its own (allowed) on the server, a runtime token, and a cache file for it. */
async function runtimeSetup(srv: TestServer = shared) {
  const project = `app-${++counter}`;
  await srv.admin().projects.allowProject({ name: project });
  const { secret } = await srv.admin().tokens.createToken({ label: `runtime-${project}`, kind: TokenKind.RUNTIME });
  return { srv, project, token: secret, cachePath: path.join(dir, `cache-${project}.bin`), cacheKey: randomBytes(32) };
}
type Setup = Awaited<ReturnType<typeof runtimeSetup>>;

function provider(setup: Setup, options: Partial<SyncProviderOptions> = {}): EngineSyncProvider {
  const p = createSyncProvider({
    baseUrl: setup.srv.url,
    token: setup.token,
    project: setup.project,
    cachePath: setup.cachePath,
    cacheKey: setup.cacheKey,
    env: {},
    backoff: { initialMs: 20, maxMs: 200 },
    ...options,
  });
  providers.push(p);
  return p;
}

async function syncedProvider(setup: Setup, options: Partial<SyncProviderOptions> = {}) {
  const p = provider(setup, options);
  await p.start();
  await within(PROMPTLY_MS, "first sync", p.waitForSync());
  return p;
}

const putApiKey = (setup: Setup, provider: string, alias: string, value: string) =>
  setup.srv.admin().credentials.putCredential({
    project: setup.project,
    provider,
    alias,
    type: CredentialType.API_KEY,
    keys: { api_key: { value } },
  });

const isUpsertOf = (provider: string) => (c: SyncChange) => c.type === "upsert" && c.credential.provider === provider;

/** Every report the provider makes, from before start(). */
function errorsOf(p: EngineSyncProvider): SyncError[] {
  const errors: SyncError[] = [];
  p.onError((e) => errors.push(e));
  return errors;
}

describe("sync provider against the server", () => {
  it("delivers a credential put while it watches, promptly", async () => {
    const setup = await runtimeSetup();
    const p = await syncedProvider(setup);
    const arrived = nextChange(p, isUpsertOf("google"));
    await putApiKey(setup, "google", "work", "sk-live-1");
    await within(PROMPTLY_MS, "the upsert", arrived);
    expect(p.get("google/work")?.keys.api_key?.value).toBe("sk-live-1");
  });

  it.each(["connect", "grpc", "grpc-web"] as const)("syncs and follows changes over %s", async (protocol) => {
    const setup = await runtimeSetup();
    await putApiKey(setup, "zendesk", "default", "z-1");
    const p = await syncedProvider(setup, { protocol });
    expect(p.get("zendesk")?.keys.api_key?.value).toBe("z-1");
    const arrived = nextChange(p, isUpsertOf("zendesk"));
    await putApiKey(setup, "zendesk", "default", "z-2");
    await within(PROMPTLY_MS, "the upsert", arrived);
    expect(p.get("zendesk")?.keys.api_key?.value).toBe("z-2");
  });

  it("starts with a snapshot of what exists, served by name with the default alias", async () => {
    const setup = await runtimeSetup();
    await putApiKey(setup, "hubspot", "default", "hs-1");
    const p = await syncedProvider(setup);
    expect(p.get("hubspot")?.keys.api_key?.value).toBe("hs-1");
    expect(p.list().map((c) => c.provider)).toEqual(["hubspot"]);
    expect(p.status()).toMatchObject({ state: "connected", staleSince: undefined });
  });

  it("removes a deleted credential", async () => {
    const setup = await runtimeSetup();
    const { credential } = await putApiKey(setup, "slack", "default", "xoxb-1");
    const p = await syncedProvider(setup);
    expect(p.get(credential!.id)).toBeDefined();
    const removed = nextChange(p, (c) => c.type === "delete");
    await setup.srv.admin().credentials.deleteCredential({ id: credential!.id });
    expect(await within(PROMPTLY_MS, "the delete", removed)).toMatchObject({ id: credential!.id });
    expect(p.get("slack")).toBeUndefined();
  });

  it("ends the stream on a revoked token, says why, and keeps serving what it holds", async () => {
    const setup = await runtimeSetup();
    await putApiKey(setup, "stripe", "default", "sk-1");
    const { secret, token } = await setup.srv.admin().tokens.createToken({ label: "doomed", kind: TokenKind.RUNTIME });
    const p = await syncedProvider({ ...setup, token: secret });
    const refused = nextError(p, "TOKEN_REVOKED");
    await setup.srv.admin().tokens.revokeToken({ id: token!.id });
    expect(await within(PROMPTLY_MS, "the refusal", refused)).toMatchObject({ code: "unauthenticated", fatal: true });
    expect(p.get("stripe")?.keys.api_key?.value).toBe("sk-1");
    expect(p.status().lastError?.reason).toBe("TOKEN_REVOKED");
  });

  it("reports a denied project with its reason", async () => {
    const setup = await runtimeSetup();
    const p = await syncedProvider(setup);
    const refused = nextError(p, "PROJECT_DENIED");
    await setup.srv.admin().projects.denyProject({ name: setup.project });
    expect(await within(PROMPTLY_MS, "the refusal", refused)).toMatchObject({ code: "permission_denied", fatal: true });
  });
});

describe("sync provider: the local cache", () => {
  /** Runs a provider until it has synced one credential, then closes it, leaving its cache behind. */
  async function populateCache(setup: Setup) {
    await putApiKey(setup, "google", "work", "cached-secret");
    const first = await syncedProvider(setup);
    expect(first.get("google/work")).toBeDefined();
    await first.close();
  }

  it("serves from the cache when started with the server down", async () => {
    const setup = await runtimeSetup(await startTestServer());
    await populateCache(setup);
    await setup.srv.stop();

    const p = provider(setup);
    await p.start();
    expect(p.get("google/work")?.keys.api_key?.value).toBe("cached-secret");
    expect(p.status().state).not.toBe("connected");
    expect(p.status().staleSince).toBeInstanceOf(Date);
  });

  it("reports a tampered cache and replaces it with a fresh sync", async () => {
    const setup = await runtimeSetup();
    await populateCache(setup);
    const raw = readFileSync(setup.cachePath);
    raw[Math.floor(raw.length / 2)] ^= 0x01;
    writeFileSync(setup.cachePath, raw);

    const p = provider(setup);
    const errors = errorsOf(p);
    await p.start();
    expect(errors.map((e) => e.reason)).toEqual(["CACHE_UNREADABLE"]);
    expect(p.get("google/work")).toBeUndefined();
    await within(PROMPTLY_MS, "the fresh sync", p.waitForSync());
    expect(p.get("google/work")?.keys.api_key?.value).toBe("cached-secret");
    await p.close();
    expect((await readLocalCache(setup.cachePath, setup.cacheKey, setup.project))?.credentials).toHaveLength(1);
  });

  it("reports a cache written under another key and replaces it with a fresh sync", async () => {
    const setup = await runtimeSetup();
    await populateCache(setup);
    const newKey = randomBytes(32);

    const p = provider(setup, { cacheKey: newKey });
    const errors = errorsOf(p);
    await p.start();
    expect(errors.map((e) => e.reason)).toEqual(["CACHE_UNREADABLE"]);
    await within(PROMPTLY_MS, "the fresh sync", p.waitForSync());
    expect(p.get("google/work")).toBeDefined();
    await p.close();
    expect(await readLocalCache(setup.cachePath, newKey, setup.project)).toBeDefined();
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("resumes from the cached revision instead of taking a new snapshot", async () => {
    const setup = await runtimeSetup();
    await populateCache(setup);
    const p = provider(setup);
    const changes: SyncChange[] = [];
    p.onChange((c) => changes.push(c));
    await p.start();
    await within(PROMPTLY_MS, "the sync", p.waitForSync());
    expect(changes).toEqual([]);
  });
});

describe("sync provider: server restarts", () => {
  it("reconnects after a restart and resumes without losing or repeating a change", async () => {
    const database = await createTestDatabase();
    try {
      const setup = await runtimeSetup(await startTestServer({ database }));
      const port = new URL(setup.srv.url).port;
      const p = await syncedProvider(setup);
      const seen: string[] = [];
      p.onChange((c) => seen.push(c.type === "upsert" ? `upsert ${c.credential.provider}` : c.type));

      const before = nextChange(p, isUpsertOf("before"));
      await putApiKey(setup, "before", "default", "1");
      await within(PROMPTLY_MS, "the first upsert", before);

      const lost = nextError(p, "SERVER_UNAVAILABLE");
      await setup.srv.stop();
      await within(PROMPTLY_MS, "noticing the server is gone", lost);
      const restarted = await startTestServer({
        database,
        env: { ENGINE_CLOUD_LISTEN: `127.0.0.1:${port}`, ENGINE_CLOUD_TOKEN: setup.srv.adminToken },
      });
      try {
        const after = nextChange(p, isUpsertOf("after"));
        await putApiKey({ ...setup, srv: restarted }, "after", "default", "2");
        await within(10_000, "the upsert after the restart", after);
        expect(seen).toEqual(["upsert before", "upsert after"]);
        expect(
          p
            .list()
            .map((c) => c.provider)
            .sort(),
        ).toEqual(["after", "before"]);
      } finally {
        await p.close();
        await restarted.stop();
      }
    } finally {
      await database.drop();
    }
  });
});
