import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CACHE_V1_FILE, CACHE_V1_KEY, CACHE_V1_SERVER } from "../testdata/cache-v1.js";
import { CloudConfigError } from "./cloud-env.js";
import {
  type Credential,
  CredentialSchema,
  ProjectSchema,
  ProjectState,
  ResourceKind,
  SyncService,
  type WatchRequest,
  type WatchResponse,
  WatchResponseSchema,
} from "@engine-cloud/api";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { readLocalCache, serverFingerprint, writeLocalCache } from "./local-cache.js";
import { createSyncProvider, type EngineSyncProvider, type SyncError, type SyncProviderOptions } from "./sync-provider.js";
import type { SyncChange } from "./sync-state.js";

// The provider against an in-memory SyncService that the test scripts event by event.

const BASE_URL = "http://sync.test";
const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

const cred = (n: number, provider: string, revision: bigint) =>
  create(CredentialSchema, { id: ID(n), project: "acme", provider, alias: "default", revision });
const ev = {
  reset: (revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "reset", value: {} } }),
  upsert: (c: Credential) => create(WatchResponseSchema, { revision: c.revision, event: { case: "upsert", value: c } }),
  delete: (n: number, revision: bigint) =>
    create(WatchResponseSchema, { revision, event: { case: "delete", value: { id: ID(n) } } }),
  caughtUp: (revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "caughtUp", value: {} } }),
  heartbeat: (revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "heartbeat", value: {} } }),
  /** A stream that names kinds sends every resource in one oneof. */
  credential: (c: Credential) =>
    create(WatchResponseSchema, {
      revision: c.revision,
      event: { case: "upsertResource", value: { resource: { case: "credential", value: c } } },
    }),
  project: (name: string, state: ProjectState, revision: bigint) =>
    create(WatchResponseSchema, {
      revision,
      event: { case: "upsertResource", value: { resource: { case: "project", value: create(ProjectSchema, { name, state }) } } },
    }),
};

/** One Watch call the fake server is serving: the test sends its events or ends it. */
interface WatchCall {
  request: WatchRequest;
  send(...events: WatchResponse[]): void;
  fail(err: ConnectError): void;
  end(): void;
  /** Resolves when the client has gone (aborted the call). */
  gone: Promise<void>;
}

function fakeSyncServer() {
  const calls: WatchCall[] = [];
  const waiting: Array<(call: WatchCall) => void> = [];
  const transport = createRouterTransport(({ service }) => {
    service(SyncService, {
      async *watch(request, context) {
        const queue: Array<WatchResponse | ConnectError | "end"> = [];
        let wake = () => {};
        const call: WatchCall = {
          request,
          send: (...events) => (queue.push(...events), wake()),
          fail: (err) => (queue.push(err), wake()),
          end: () => (queue.push("end"), wake()),
          gone: new Promise((resolve) => context.signal.addEventListener("abort", () => resolve())),
        };
        context.signal.addEventListener("abort", () => wake());
        calls.push(call);
        waiting.shift()?.(call);
        while (!context.signal.aborted) {
          const item = queue.shift();
          if (item === undefined) {
            await new Promise<void>((resolve) => (wake = resolve));
          } else if (item === "end") {
            return;
          } else if (item instanceof ConnectError) {
            throw item;
          } else {
            yield item;
          }
        }
      },
      pull() {
        throw new ConnectError("not in this fake", Code.Unimplemented);
      },
    });
  });
  return {
    transport,
    calls,
    /** The next Watch call (or one already made and not yet taken). */
    nextCall(taken: number): Promise<WatchCall> {
      if (calls.length > taken) return Promise.resolve(calls[taken]);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

function refusal(code: Code, reason: string): ConnectError {
  return new ConnectError(`refused: ${reason}`, code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: "engine.cloud" } },
  ]);
}

const nextChange = (p: EngineSyncProvider, match: (c: SyncChange) => boolean = () => true) =>
  new Promise<SyncChange>((resolve) => {
    const off = p.onChange((c) => match(c) && (off(), resolve(c)));
  });
const nextError = (p: EngineSyncProvider, reason: string) =>
  new Promise<SyncError>((resolve) => {
    const off = p.onError((e) => e.reason === reason && (off(), resolve(e)));
  });

let dir: string;
let cachePath: string;
const cacheKey = randomBytes(32);
let server: ReturnType<typeof fakeSyncServer>;
const providers: EngineSyncProvider[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "engine-sync-test-"));
  cachePath = path.join(dir, "cache.bin");
  server = fakeSyncServer();
});
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

function provider(options: Partial<SyncProviderOptions> = {}): EngineSyncProvider {
  const p = createSyncProvider({
    baseUrl: BASE_URL,
    project: "acme",
    transport: server.transport,
    cachePath,
    cacheKey,
    env: {},
    backoff: { initialMs: 1, maxMs: 20 },
    ...options,
  });
  providers.push(p);
  return p;
}

async function seedCache(revision: bigint, credentials: Credential[], baseUrl = BASE_URL, token?: string) {
  await writeLocalCache(cachePath, cacheKey, {
    project: "acme",
    serverFingerprint: serverFingerprint(baseUrl, token),
    revision,
    credentials,
  });
}

describe("sync provider", () => {
  it("serves the cache as soon as start() resolves, before the server answers", async () => {
    await seedCache(7n, [cred(1, "google", 7n)]);
    const p = provider();
    await p.start();
    expect(p.get("google")?.id).toBe(ID(1));
    expect(p.status()).toMatchObject({ state: "connecting", revision: 7n });
    expect(p.status().staleSince).toBeInstanceOf(Date);
  });

  it("resumes the Watch from the cached revision", async () => {
    await seedCache(7n, [cred(1, "google", 7n)]);
    await provider().start();
    expect((await server.nextCall(0)).request).toMatchObject({ project: "acme", sinceRevision: 7n });
  });

  it("starts with a full sync without a cache, and is ready at CAUGHT_UP", async () => {
    const p = provider();
    await p.start();
    const call = await server.nextCall(0);
    expect(call.request.sinceRevision).toBe(0n);
    call.send(ev.reset(5n), ev.upsert(cred(1, "google", 4n)), ev.caughtUp(5n));
    await p.waitForSync();
    expect(p.get("google")?.id).toBe(ID(1));
    expect(p.status()).toMatchObject({ state: "connected", revision: 5n, staleSince: undefined });
  });

  it("persists what it applied, so the next start resumes from there", async () => {
    const p = provider();
    await p.start();
    const call = await server.nextCall(0);
    call.send(ev.reset(5n), ev.caughtUp(5n), ev.upsert(cred(2, "hubspot", 6n)));
    await nextChange(p, (c) => c.type === "upsert");
    await p.close();
    const cached = await readLocalCache(cachePath, cacheKey, "acme");
    expect([cached?.revision, cached?.credentials.map((c) => c.id)]).toEqual([6n, [ID(2)]]);
  });

  it("reconnects after the stream breaks and resumes without losing or repeating a change", async () => {
    const p = provider();
    const seen: string[] = [];
    p.onChange((c) => seen.push(c.type === "upsert" ? `upsert ${c.credential.id}@${c.revision}` : c.type));
    await p.start();
    const first = await server.nextCall(0);
    first.send(ev.reset(1n), ev.caughtUp(1n), ev.upsert(cred(1, "google", 2n)));
    await nextChange(p, (c) => c.type === "upsert");
    first.fail(new ConnectError("connection reset", Code.Unavailable));

    const second = await server.nextCall(1);
    expect(second.request.sinceRevision).toBe(2n);
    // A server that repeats the last change must not make the runtime apply it twice.
    second.send(ev.upsert(cred(1, "google", 2n)), ev.caughtUp(2n), ev.upsert(cred(2, "hubspot", 3n)));
    await nextChange(p, (c) => c.type === "upsert" && c.revision === 3n);
    expect(seen).toEqual(["reset", `upsert ${ID(1)}@2`, `upsert ${ID(2)}@3`]);
  });

  it("reports a revoked token as fatal, keeps retrying and keeps serving the cache", async () => {
    await seedCache(7n, [cred(1, "google", 7n)]);
    const p = provider();
    const revoked = nextError(p, "TOKEN_REVOKED");
    await p.start();
    (await server.nextCall(0)).fail(refusal(Code.Unauthenticated, "TOKEN_REVOKED"));
    expect(await revoked).toMatchObject({ code: "unauthenticated", fatal: true });
    (await server.nextCall(1)).fail(refusal(Code.PermissionDenied, "PROJECT_DENIED"));
    await server.nextCall(2);
    expect(p.get("google")?.id).toBe(ID(1));
    expect(p.status().lastError).toMatchObject({ code: "permission_denied", reason: "PROJECT_DENIED", fatal: true });
    expect(p.status().state).not.toBe("connected");
  });

  it("replaces a stream that goes silent longer than staleAfterMs", async () => {
    const p = provider({ staleAfterMs: 100 });
    const stale = nextError(p, "STREAM_STALE");
    await p.start();
    const first = await server.nextCall(0);
    first.send(ev.reset(1n), ev.caughtUp(1n));
    await p.waitForSync();
    await stale;
    await first.gone;
    expect((await server.nextCall(1)).request.sinceRevision).toBe(1n);
  });

  it("keeps a stream that heartbeats", async () => {
    const p = provider({ staleAfterMs: 150 });
    await p.start();
    const call = await server.nextCall(0);
    call.send(ev.reset(1n), ev.caughtUp(1n));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 50));
      call.send(ev.heartbeat(1n));
    }
    expect(server.calls).toHaveLength(1);
    expect(p.status().state).toBe("connected");
  });

  it("reports a tampered cache, discards it and syncs from scratch", async () => {
    await seedCache(7n, [cred(1, "google", 7n)]);
    const raw = readFileSync(cachePath);
    raw[raw.length - 1] ^= 1;
    writeFileSync(cachePath, raw);
    const p = provider();
    const reported = nextError(p, "CACHE_UNREADABLE");
    await p.start();
    await reported;
    expect(p.get("google")).toBeUndefined();
    const call = await server.nextCall(0);
    expect(call.request.sinceRevision).toBe(0n);
    call.send(ev.reset(9n), ev.upsert(cred(1, "google", 8n)), ev.caughtUp(9n));
    await p.waitForSync();
    await p.close();
    expect((await readLocalCache(cachePath, cacheKey, "acme"))?.revision).toBe(9n);
  });

  it("does not resume from a cache written for another server", async () => {
    await seedCache(7n, [cred(1, "google", 7n)], "http://elsewhere.test");
    const p = provider();
    await p.start();
    expect(p.get("google")).toBeUndefined();
    expect((await server.nextCall(0)).request.sinceRevision).toBe(0n);
  });

  it("does not resume from a cache written under another runtime key, which may be another tenant's", async () => {
    await seedCache(7n, [cred(1, "google", 7n)], BASE_URL, "ecr_key_of_tenant_a");
    const p = provider({ token: "ecr_key_of_tenant_b" });
    await p.start();
    expect(p.get("google")).toBeUndefined();
    expect((await server.nextCall(0)).request.sinceRevision).toBe(0n);
  });

  it("resumes from a cache written under the same runtime key", async () => {
    await seedCache(7n, [cred(1, "google", 7n)], BASE_URL, "ecr_same_key");
    const p = provider({ token: "ecr_same_key" });
    await p.start();
    expect(p.get("google")?.id).toBe(ID(1));
    expect((await server.nextCall(0)).request.sinceRevision).toBe(7n);
  });

  it("closes promptly while waiting to reconnect, and rejects a pending waitForSync", async () => {
    const p = provider({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await p.start();
    const synced = p.waitForSync();
    (await server.nextCall(0)).fail(new ConnectError("down", Code.Unavailable));
    await nextError(p, "SERVER_UNAVAILABLE");
    const started = Date.now();
    await p.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(synced).rejects.toThrow(/closed/);
    expect(p.status().state).toBe("offline");
  });
});

describe("sync provider: resource kinds", () => {
  const BOTH = [ResourceKind.CREDENTIAL, ResourceKind.PROJECT] as const;

  /** Leaves the cache of a provider that synced both kinds up to revision 5 (Watch call 0). */
  async function cacheBothKinds(state: ProjectState) {
    const first = provider({ kinds: BOTH });
    await first.start();
    (await server.nextCall(0)).send(ev.reset(5n), ev.project("acme", state, 3n), ev.caughtUp(5n));
    await first.waitForSync();
    await first.close();
  }

  it("asks for no kinds by default, as runtimes always have", async () => {
    await provider().start();
    expect((await server.nextCall(0)).request.kinds).toEqual([]);
  });

  it("asks for the kinds it is given, each once", async () => {
    await provider({ kinds: [ResourceKind.PROJECT, ResourceKind.CREDENTIAL, ResourceKind.PROJECT] }).start();
    expect((await server.nextCall(0)).request.kinds).toEqual(BOTH);
  });

  it("refuses a kind it does not know before connecting", () => {
    expect(() => provider({ kinds: [ResourceKind.UNSPECIFIED as ResourceKind.PROJECT] })).toThrow(CloudConfigError);
  });

  it("serves the resources of each kind it syncs, credentials through get() as before", async () => {
    const p = provider({ kinds: BOTH });
    await p.start();
    (await server.nextCall(0)).send(
      ev.reset(5n),
      ev.project("acme", ProjectState.ALLOWED, 3n),
      ev.credential(cred(1, "google", 4n)),
      ev.caughtUp(5n),
    );
    await p.waitForSync();
    expect(p.resources(ResourceKind.PROJECT).map((r) => [r.name, r.state])).toEqual([["acme", ProjectState.ALLOWED]]);
    expect(p.get("google")?.id).toBe(ID(1));
  });

  it("announces other kinds to onResourceChange only, credentials to onChange only, a reset to both", async () => {
    const p = provider({ kinds: BOTH });
    const heard: string[] = [];
    p.onChange((c) => heard.push(`change ${c.type}`));
    p.onResourceChange((c) => heard.push(`resource ${c.type}`));
    await p.start();
    (await server.nextCall(0)).send(
      ev.reset(5n),
      ev.caughtUp(5n),
      ev.project("acme", ProjectState.DENIED, 6n),
      ev.credential(cred(1, "google", 7n)),
    );
    await nextChange(p, (c) => c.type === "upsert");
    expect(heard).toEqual(["change reset", "resource reset", "resource upsertResource", "change upsert"]);
  });

  it("resumes a cache holding every kind it syncs, with their resources", async () => {
    await cacheBothKinds(ProjectState.DENIED);
    const second = provider({ kinds: BOTH });
    await second.start();
    expect(second.resources(ResourceKind.PROJECT).map((r) => r.state)).toEqual([ProjectState.DENIED]);
    expect((await server.nextCall(1)).request.sinceRevision).toBe(5n);
  });

  it("serves a credentials-only cache to a provider that syncs more kinds, but takes a full snapshot", async () => {
    await seedCache(7n, [cred(1, "google", 7n)]);
    const p = provider({ kinds: BOTH });
    await p.start();
    expect(p.get("google")?.id).toBe(ID(1));
    expect((await server.nextCall(0)).request.sinceRevision).toBe(0n);
  });

  it("leaves out the cached resources of kinds it does not sync", async () => {
    await cacheBothKinds(ProjectState.ALLOWED);
    const second = provider();
    await second.start();
    expect(second.resources(ResourceKind.PROJECT)).toEqual([]);
    expect((await server.nextCall(1)).request.sinceRevision).toBe(5n);
  });
});

describe("sync provider: cache format", () => {
  /** A provider for the server and key the format-1 fixture was written for. */
  const fixtureProvider = () =>
    provider({ baseUrl: CACHE_V1_SERVER.baseUrl, token: CACHE_V1_SERVER.token, cacheKey: CACHE_V1_KEY });

  it("serves a cache written by the SDK before resource kinds, resumes from it and upgrades it at the next write", async () => {
    copyFileSync(CACHE_V1_FILE, cachePath);
    const p = fixtureProvider();
    await p.start();
    expect(p.get("google/work")?.keys.access_token?.value).toBe("ya29.fixture-secret");
    expect(p.get("hubspot")?.keys.api_key?.value).toBe("hs-fixture-secret");
    const call = await server.nextCall(0);
    expect(call.request.sinceRevision).toBe(42n);
    call.send(ev.caughtUp(42n), ev.upsert(cred(3, "slack", 43n)));
    await nextChange(p, (c) => c.type === "upsert");
    await p.close();

    expect(readFileSync(cachePath)[4]).toBe(2);
    const upgraded = await readLocalCache(cachePath, CACHE_V1_KEY, "acme");
    expect([upgraded?.revision, upgraded?.credentials.map((c) => c.provider)]).toEqual([43n, ["google", "hubspot", "slack"]]);
  });

  it("reports a cache in a newer format, syncs in memory and never overwrites the file", async () => {
    await seedCache(7n, [cred(1, "google", 7n)]);
    const raw = readFileSync(cachePath);
    raw[4] = 3;
    writeFileSync(cachePath, raw);
    const p = provider();
    const reported = nextError(p, "CACHE_FORMAT_NEWER");
    await p.start();
    expect(await reported).toMatchObject({ code: "failed_precondition", fatal: false });
    const call = await server.nextCall(0);
    expect(call.request.sinceRevision).toBe(0n);
    call.send(ev.reset(9n), ev.upsert(cred(2, "hubspot", 8n)), ev.caughtUp(9n), ev.upsert(cred(3, "slack", 10n)));
    await nextChange(p, (c) => c.type === "upsert" && c.revision === 10n);
    expect(p.get("hubspot")?.id).toBe(ID(2));
    await p.close();
    expect(readFileSync(cachePath).equals(raw)).toBe(true);
  });
});
