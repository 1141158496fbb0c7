import { toBinary } from "@bufbuild/protobuf";
import { WatchResponseSchema, type WatchResponse } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import {
  clientOf,
  createTestTenant,
  jsonText,
  putApiKey,
  runConcurrently,
  uniqueSecret,
  type TestTenant,
} from "./support/test-tenant.js";
import {
  afterCaughtUp,
  beforeCaughtUp,
  changedId,
  changeOf,
  changesIn,
  describeEvents,
  firstEvent,
  isCaughtUp,
  isChange,
  isHeartbeat,
  readUntil,
  recordWatch,
  type WatchRecorder,
} from "./support/watch-recorder.js";

const HEARTBEAT_MS = 200;
/** The bound on how long a stream may outlive its authorization. */
const REVOCATION_BOUND_MS = 1000;

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: { ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
});
afterAll(() => srv?.stop());

const open: WatchRecorder[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

/** A tenant of the test's own with projects p1 and p2 allowed, and a runtime client of it. */
async function runtimeTenant(protocol: "connect" | "grpc" = "connect") {
  const tenant = await createTestTenant(srv, { allow: ["p1", "p2"] });
  const { id, secret } = await tenant.token();
  return { tenant, runtime: clientOf(srv, secret, { protocol }), tokenId: id, secret };
}

/**
 * The server's two ways of serving Watch: binary streams without a deadline go
 * the fast path (transport/sync-fast-path.ts), calls with a deadline the
 * generic connect handler (services/sync-service.ts). Both must behave alike.
 */
const STREAM_PATHS = { "fast path": {}, "generic path": { timeoutMs: 120_000 } } as const;
type StreamPath = keyof typeof STREAM_PATHS;

/** A recorded Watch of project p1 from revision 0 on the fast path, unless told otherwise, past its catch-up. */
async function caughtUpWatch(
  client: CloudClient,
  {
    project = "p1",
    sinceRevision = 0n,
    path = "fast path",
  }: { project?: string; sinceRevision?: bigint; path?: StreamPath } = {},
): Promise<WatchRecorder> {
  const w = recordWatch(client, { project, sinceRevision }, STREAM_PATHS[path]);
  open.push(w); // closed after the test
  await w.until(isCaughtUp);
  return w;
}

const put = (t: TestTenant, project: string, provider: string, secret = uniqueSecret()) =>
  putApiKey(t.admin, { project, provider }, secret);

/** Revisions of the change events, which must be strictly increasing and, here, contiguous. */
const changeRevisions = (events: WatchResponse[]) => changesIn(events).map((e) => Number(e.revision));

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("Watch", () => {
  it("sends RESET, a snapshot of upserts and CAUGHT_UP, then a later put with its revision", async () => {
    const { tenant, runtime } = await runtimeTenant();
    const a = await put(tenant, "p1", "first");
    const b = await put(tenant, "", "tenant-wide");
    const w = await caughtUpWatch(runtime);
    expect(w.events.map((e) => [e.event.case, e.revision])).toEqual([
      ["reset", b.revision],
      ["upsert", a.revision],
      ["upsert", b.revision],
      ["caughtUp", b.revision],
    ]);
    expect(w.events[0].event.value).toMatchObject({ reason: "INITIAL" });
    const secret = uniqueSecret();
    const later = await put(tenant, "p1", "later", secret);
    const arrived = await w.until(changeOf(later.id));
    expect(arrived.revision).toBe(later.revision);
    expect(arrived.event.case === "upsert" && arrived.event.value.keys.api_key.value).toBe(secret);
  });

  it("sends a delete as a tombstone with the delete's revision", async () => {
    const { tenant, runtime } = await runtimeTenant();
    const doomed = await put(tenant, "p1", "doomed");
    const w = await caughtUpWatch(runtime);
    const { revision } = await tenant.admin.credentials.deleteCredential({ id: doomed.id });
    const tombstone = await w.until((e) => e.event.case === "delete" && e.event.value.id === doomed.id);
    expect(tombstone.revision).toBe(revision);
    expect(tombstone.event.value).toMatchObject({ provider: "doomed", alias: "default", project: "p1" });
  });

  it("resumes from a revision with only the later changes, each once", async () => {
    const { tenant, runtime } = await runtimeTenant();
    await put(tenant, "p1", "a");
    const b = await put(tenant, "p1", "b");
    const c = await put(tenant, "p1", "c");
    const w = await caughtUpWatch(runtime, { sinceRevision: b.revision });
    const d = await put(tenant, "p1", "d");
    const e = await put(tenant, "p1", "e");
    await w.until(changeOf(e.id));
    expect(w.events.some((x) => x.event.case === "reset")).toBe(false);
    expect(changesIn(w.events).map(changedId)).toEqual([c.id, d.id, e.id]);
  });

  it("never sends another project's credentials", async () => {
    const { tenant, runtime } = await runtimeTenant();
    const hiddenBefore = await put(tenant, "p2", "hidden-before");
    const w = await caughtUpWatch(runtime);
    const hiddenAfter = await put(tenant, "p2", "hidden-after");
    const wide = await put(tenant, "", "wide");
    const marker = await put(tenant, "p1", "marker");
    await w.until(changeOf(marker.id));
    expect(changesIn(w.events).map(changedId)).toEqual([wide.id, marker.id]);
    expect(jsonText(w.events)).not.toContain(hiddenBefore.id);
    expect(jsonText(w.events)).not.toContain(hiddenAfter.id);
  });

  it("never sends another tenant's credentials to a runtime", async () => {
    const a = await runtimeTenant();
    const b = await runtimeTenant();
    const w = await caughtUpWatch(b.runtime);
    const secrets = [uniqueSecret(), uniqueSecret()];
    await put(a.tenant, "p1", "of-a", secrets[0]);
    await put(a.tenant, "", "of-a-wide", secrets[1]);
    const marker = await put(b.tenant, "p1", "marker");
    await w.until(changeOf(marker.id));
    expect(changesIn(w.events).map(changedId)).toEqual([marker.id]);
    for (const secret of secrets) expect(jsonText(w.events)).not.toContain(secret);
  });

  it("sends heartbeats carrying the tenant's current revision, changes of other projects included", async () => {
    const { tenant, runtime } = await runtimeTenant();
    const visible = await put(tenant, "p1", "visible");
    const w = await caughtUpWatch(runtime);
    await w.until((e) => isHeartbeat(e) && e.revision === visible.revision, 10 * HEARTBEAT_MS);
    const invisible = await put(tenant, "p2", "invisible");
    await w.until((e) => isHeartbeat(e) && e.revision === invisible.revision, 10 * HEARTBEAT_MS);
    expect(changesIn(w.events).map(changedId)).toEqual([visible.id]);
  });

  it("refuses a project the tenant's policy does not know: PERMISSION_DENIED PROJECT_UNKNOWN", async () => {
    const { runtime } = await runtimeTenant();
    const err = await failureOf(firstEvent(runtime.sync.watch({ project: "nowhere" })));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PROJECT_UNKNOWN"]);
  });

  it("refuses a denied project: PERMISSION_DENIED PROJECT_DENIED", async () => {
    const { tenant, runtime } = await runtimeTenant();
    await tenant.admin.projects.denyProject({ name: "p2" });
    const err = await failureOf(firstEvent(runtime.sync.watch({ project: "p2" })));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PROJECT_DENIED"]);
  });
});

describe("Pull", () => {
  /** The catch-up a Watch sends before CAUGHT_UP, and its CAUGHT_UP revision. */
  async function watchCatchUp(client: CloudClient, sinceRevision: bigint) {
    const w = await caughtUpWatch(client, { sinceRevision });
    await w.close();
    return { events: beforeCaughtUp(w.events), revision: w.events.find(isCaughtUp)!.revision };
  }
  const encoded = (events: WatchResponse[]) =>
    events.map((e) => Buffer.from(toBinary(WatchResponseSchema, e)).toString("base64"));

  it("returns what Watch sends before CAUGHT_UP, from 0 and from a revision", async () => {
    const { tenant, runtime } = await runtimeTenant();
    const first = await put(tenant, "p1", "one");
    await put(tenant, "", "two");
    await put(tenant, "p2", "elsewhere");
    const gone = await put(tenant, "p1", "gone");
    await tenant.admin.credentials.deleteCredential({ id: gone.id });
    for (const since of [0n, first.revision]) {
      const pulled = await runtime.sync.pull({ project: "p1", sinceRevision: since });
      const watched = await watchCatchUp(runtime, since);
      expect(encoded(pulled.events)).toEqual(encoded(watched.events));
      expect(pulled.revision).toBe(watched.revision);
    }
  });
});

describe("an open stream", () => {
  /** Milliseconds from `admin` returning to the stream ending, and how it ended. */
  async function endOf(w: WatchRecorder, admin: () => Promise<unknown>) {
    await admin();
    const returned = performance.now();
    const err = await Promise.race([w.ended, new Promise<"still open">((r) => setTimeout(() => r("still open"), 5000))]);
    expect(err, "the stream outlived the change by 5 s").not.toBe("still open");
    return { err, ms: w.endedAt! - returned };
  }

  describe.each(Object.keys(STREAM_PATHS) as StreamPath[])("served on the %s", (path) => {
    it("ends within a second with UNAUTHENTICATED TOKEN_REVOKED when its token is revoked", async () => {
      const { tenant, runtime, tokenId } = await runtimeTenant();
      const w = await caughtUpWatch(runtime, { path });
      const { err, ms } = await endOf(w, () => tenant.admin.tokens.revokeToken({ id: tokenId }));
      expect(err).toMatchObject({ codeName: "unauthenticated", reason: "TOKEN_REVOKED" });
      expect(ms).toBeLessThan(REVOCATION_BOUND_MS);
    });

    it("ends within a second with PERMISSION_DENIED PROJECT_DENIED when its project is denied", async () => {
      const { tenant, runtime } = await runtimeTenant();
      const w = await caughtUpWatch(runtime, { path });
      const { err, ms } = await endOf(w, () => tenant.admin.projects.denyProject({ name: "p1" }));
      expect(err).toMatchObject({ codeName: "permission_denied", reason: "PROJECT_DENIED" });
      expect(ms).toBeLessThan(REVOCATION_BOUND_MS);
    });

    it("ends within a second with PERMISSION_DENIED TENANT_SUSPENDED when its tenant is suspended", async () => {
      const { tenant, runtime } = await runtimeTenant();
      const w = await caughtUpWatch(runtime, { path });
      const { err, ms } = await endOf(w, () => srv.admin().tenants.suspendTenant({ tenant: tenant.slug }));
      expect(err).toMatchObject({ codeName: "permission_denied", reason: "TENANT_SUSPENDED" });
      expect(ms).toBeLessThan(REVOCATION_BOUND_MS);
    });
  });

  it("keeps running for the other tokens of the tenant when one is revoked", async () => {
    const { tenant, runtime, tokenId } = await runtimeTenant();
    const other = clientOf(srv, (await tenant.token()).secret);
    const [doomed, survivor] = [await caughtUpWatch(runtime), await caughtUpWatch(other)];
    await tenant.admin.tokens.revokeToken({ id: tokenId });
    await doomed.ended;
    const after = await put(tenant, "p1", "after-revocation");
    await survivor.until(changeOf(after.id));
  });
});

describe("gap-freedom", () => {
  const WRITERS = 8;
  const PUTS_EACH = 30;

  /** WRITERS concurrent writers, each putting PUTS_EACH distinct credentials (p1 or tenant-wide). */
  const writeConcurrently = (tenant: TestTenant) =>
    Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PUTS_EACH; i++) {
          await putApiKey(tenant.admin, { project: i % 2 ? "p1" : "", provider: "gap", alias: `w${w}-${i}` }, "v");
        }
      }),
    );

  it.each([
    ["connect", "fast path"],
    ["grpc", "fast path"],
    ["connect", "generic path"],
  ] as const)(
    "delivers every revision of concurrent writers once, in order, with no gap (%s, %s)",
    async (protocol, path) => {
      const { tenant, runtime } = await runtimeTenant(protocol);
      const w = await caughtUpWatch(runtime, { path });
      const start = Number(w.events.find(isCaughtUp)!.revision);
      await writeConcurrently(tenant);
      const final = start + WRITERS * PUTS_EACH;
      await w.until((e) => isChange(e) && Number(e.revision) === final, 15_000);
      expect(changeRevisions(afterCaughtUp(w.events)), describeEvents(w.events)).toEqual(range(start + 1, final));
    },
    30_000,
  );
});

describe("a slow consumer", () => {
  const CREDENTIALS = 100;
  const VERSIONS = 10;
  /** Makes the unread events fill the held streams' flow-control windows within the first rounds. */
  const padding = "x".repeat(512);
  const latestValue = `v${VERSIONS - 1}-${padding}`;

  /** What the streams saw while 1,000 changes were written and two of them, one per path, read nothing. */
  let fast: WatchRecorder;
  let start: number;
  let final: number;
  let fastLagMs: number;
  /** Per stream path, the latest value of each credential once the held stream was read again. */
  const resumed = new Map<StreamPath, Map<string, string>>();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);

  beforeAll(async () => {
    process.on("warning", onWarning);
    const { tenant, runtime, secret } = await runtimeTenant();
    fast = await caughtUpWatch(runtime);
    const abort = new AbortController();
    const paths = Object.keys(STREAM_PATHS) as StreamPath[];
    // Held over gRPC, each on its own HTTP/2 connection: flow control stops the server's writes once
    // some 64 KiB are unread, so the server has to hold or drop what follows, not the kernel's buffers.
    const held = paths.map((path) =>
      clientOf(srv, secret, { protocol: "grpc" })
        .sync.watch({ project: "p1" }, { signal: abort.signal, ...STREAM_PATHS[path] })
        [Symbol.asyncIterator](),
    );
    try {
      for (const stream of held) start = Number((await readUntil(stream, isCaughtUp)).at(-1)!.revision);
      final = start + CREDENTIALS * VERSIONS;
      for (let v = 0; v < VERSIONS; v++) {
        const puts = Array.from(
          { length: CREDENTIALS },
          (_, c) => () => putApiKey(tenant.admin, { project: "p1", provider: "slow", alias: `c${c}` }, `v${v}-${padding}`),
        );
        await runConcurrently(puts, 8);
      }
      const lastWrite = performance.now();
      await fast.until((e) => isChange(e) && Number(e.revision) === final, 10_000);
      fastLagMs = performance.now() - lastWrite;
      for (const [i, stream] of held.entries()) {
        const events = await readUntil(stream, (e) => (isChange(e) || isHeartbeat(e)) && Number(e.revision) >= final);
        const latest = new Map<string, string>();
        for (const e of events) if (e.event.case === "upsert") latest.set(e.event.value.alias, e.event.value.keys.api_key.value);
        resumed.set(paths[i], latest);
      }
    } finally {
      abort.abort();
      await Promise.all(held.map((stream) => stream.return?.(undefined).catch(() => {})));
    }
  }, 120_000);
  afterAll(() => {
    process.off("warning", onWarning);
  });

  it("does not hold up another watcher: it gets every change, promptly", () => {
    expect(fastLagMs, "the fast watcher lagged behind the writes").toBeLessThan(2000);
    expect(changeRevisions(afterCaughtUp(fast.events))).toEqual(range(start + 1, final));
  });

  it.each(Object.keys(STREAM_PATHS) as StreamPath[])(
    "ends up, once read again, with every credential at its latest version (%s)",
    (path) => {
      const latest = resumed.get(path)!;
      expect(latest.size).toBe(CREDENTIALS);
      expect(new Set(latest.values())).toEqual(new Set([latestValue]));
    },
  );

  it("catches up without adding a 'drain' listener per refused write (no MaxListenersExceededWarning)", () => {
    expect(warnings.map((w) => `${w.name}: ${w.message}`).filter((w) => w.includes("MaxListenersExceeded"))).toEqual([]);
  });
});

describe("tombstone retention", () => {
  const RETENTION_MS = 2000;
  let short: TestServer;
  beforeAll(async () => {
    short = await startTestServer({ env: { ENGINE_CLOUD_TOMBSTONE_RETENTION_MS: String(RETENTION_MS) } });
  });
  afterAll(() => short?.stop());

  it("purges tombstones past the retention, and resets a runtime that was away longer instead of skipping the delete", async () => {
    const tenant = await createTestTenant(short, { allow: ["p1"] });
    const runtime = clientOf(short, (await tenant.token()).secret);
    const kept = await putApiKey(tenant.admin, { project: "p1", provider: "kept" }, uniqueSecret());
    const doomed = await putApiKey(tenant.admin, { project: "p1", provider: "doomed" }, uniqueSecret());
    const { revision: deletedAt } = await tenant.admin.credentials.deleteCredential({ id: doomed.id });

    // Within the retention, a runtime from before the delete learns of it.
    const early = await runtime.sync.pull({ project: "p1", sinceRevision: doomed.revision });
    expect(early.events.map((e) => [e.event.case, e.revision])).toEqual([["delete", deletedAt]]);

    await new Promise((r) => setTimeout(r, RETENTION_MS + 100));
    await short.server.app.tombstones.sweep();
    const rows = await sql<{ id: string }>`SELECT resource_id AS id FROM tenant_changes WHERE resource_id = ${doomed.id}`.execute(
      short.server.app.storage.db,
    );
    expect(rows.rows).toEqual([]);

    // From before the purged delete: RESET and the live snapshot, which no longer holds it.
    const late = await runtime.sync.pull({ project: "p1", sinceRevision: doomed.revision });
    expect(late.events.map((e) => e.event.case)).toEqual(["reset", "upsert"]);
    expect(late.events[0]!.event.value).toMatchObject({ reason: "EXPIRED" });
    expect(changedId(late.events[1]!)).toBe(kept.id);
    // A runtime that saw the delete resumes as usual.
    expect((await runtime.sync.pull({ project: "p1", sinceRevision: deletedAt })).events).toEqual([]);
  });
});
