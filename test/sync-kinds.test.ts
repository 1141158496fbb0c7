import { ProjectState, ResourceKind, type WatchResponse } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { afterCaughtUp, beforeCaughtUp, isCaughtUp, recordWatch, type WatchRecorder } from "./support/watch-recorder.js";

/**
 * Watch and Pull requests that name resource kinds (sync_service.proto
 * `kinds`): every change of the kinds named, credentials and project policy
 * records in one revision order, as `upsert_resource` / `delete_resource`.
 * Requests that name none keep today's shape (test/sync.test.ts and the other
 * sync suites are the proof; here only that they see no project changes).
 */

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: { ENGINE_CLOUD_SYNC_HEARTBEAT_MS: "200" } });
});
afterAll(() => srv?.stop());

const open: WatchRecorder[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

const BOTH = [ResourceKind.CREDENTIAL, ResourceKind.PROJECT];

/**
 * The SDK over gRPC is served by the binary fast path (transport/sync-fast-path.ts),
 * over Connect (JSON) by the generic handler (services/sync-service.ts).
 */
const PATHS = { "gRPC, fast path": "grpc", "Connect JSON, generic path": "connect" } as const;
type PathName = keyof typeof PATHS;

async function runtimeTenant(path: PathName) {
  const tenant = await createTestTenant(srv, { allow: ["p1", "p2"] });
  const { secret } = await tenant.token();
  return { tenant, runtime: clientOf(srv, secret, { protocol: PATHS[path] }) };
}

const put = (t: TestTenant, project: string, provider: string) => putApiKey(t.admin, { project, provider }, uniqueSecret());

async function caughtUp(client: CloudClient, request: { project: string; sinceRevision?: bigint; kinds?: ResourceKind[] }) {
  const w = recordWatch(client, request);
  open.push(w);
  await w.until(isCaughtUp);
  return w;
}

/** One event as a short line: what changed, of which kind, in which wire shape. */
function line(e: WatchResponse): string {
  switch (e.event.case) {
    case "upsertResource": {
      const r = e.event.value.resource;
      if (r.case === "credential") return `credential+ ${r.value.provider}`;
      if (r.case === "project") return `project+ ${r.value.name} ${ProjectState[r.value.state]}`;
      return "resource+ ?";
    }
    case "deleteResource": {
      const d = e.event.value;
      if (d.kind === ResourceKind.CREDENTIAL) return `credential- ${d.credential?.provider} ${d.credential?.alias} ${d.project}`;
      return `${ResourceKind[d.kind]}- ${d.id}`;
    }
    case "upsert":
      return `upsert ${e.event.value.provider}`;
    case "delete":
      return `delete ${e.event.value.provider}`;
    default:
      return e.event.case ?? "?";
  }
}

const isChange = (e: WatchResponse) => ["upsert", "delete", "upsertResource", "deleteResource"].includes(e.event.case ?? "");
const changeLines = (events: WatchResponse[]) => events.filter(isChange).map(line);
const increasing = (events: WatchResponse[]) => {
  const revisions = events.filter(isChange).map((e) => Number(e.revision));
  return revisions.every((r, i) => i === 0 || r > revisions[i - 1]!);
};

describe.each(Object.keys(PATHS) as PathName[])("a stream naming [CREDENTIAL, PROJECT] (%s)", (path) => {
  it("catches up with the project's record and its visible credentials in revision order, deletes included, then goes live", async () => {
    const { tenant, runtime } = await runtimeTenant(path);
    const first = await put(tenant, "p1", "first");
    await put(tenant, "", "wide");
    await put(tenant, "p2", "elsewhere"); // another project's: never seen
    const doomed = await put(tenant, "p1", "doomed");
    await tenant.admin.projects.allowProject({ name: "p1" }); // p1's record changes after the credentials
    await tenant.admin.credentials.deleteCredential({ id: doomed.id });

    // A snapshot holds what is live, each resource at its latest revision.
    const fresh = await caughtUp(runtime, { project: "p1", kinds: BOTH });
    const snapshot = beforeCaughtUp(fresh.events);
    expect(snapshot.map(line)).toEqual(["reset", "credential+ first", "credential+ wide", "project+ p1 ALLOWED"]);
    expect(increasing(snapshot)).toBe(true);

    // Resuming from a revision: the changes after it, the delete as delete_resource with the credential's name.
    const resumed = await caughtUp(runtime, { project: "p1", sinceRevision: first.revision, kinds: BOTH });
    expect(changeLines(beforeCaughtUp(resumed.events))).toEqual([
      "credential+ wide",
      "project+ p1 ALLOWED",
      "credential- doomed default p1",
    ]);

    // Live: interleaved, in revision order; other projects' changes of either kind stay out.
    const live = await put(tenant, "p1", "live");
    await tenant.admin.projects.denyProject({ name: "p2" });
    await put(tenant, "p2", "elsewhere-live");
    await tenant.admin.projects.allowProject({ name: "p1" });
    const { revision: deletedAt } = await tenant.admin.credentials.deleteCredential({ id: live.id });
    for (const w of [fresh, resumed]) {
      await w.until((e) => e.revision === deletedAt);
      const after = afterCaughtUp(w.events);
      expect(changeLines(after)).toEqual(["credential+ live", "project+ p1 ALLOWED", "credential- live default p1"]);
      expect(increasing(after)).toBe(true);
    }
  });

  it("sees no credentials when it names only PROJECT", async () => {
    const { tenant, runtime } = await runtimeTenant(path);
    await put(tenant, "p1", "hidden");
    const w = await caughtUp(runtime, { project: "p1", kinds: [ResourceKind.PROJECT] });
    expect(changeLines(beforeCaughtUp(w.events))).toEqual(["project+ p1 ALLOWED"]);
    await put(tenant, "p1", "hidden-live");
    await put(tenant, "", "hidden-wide");
    await tenant.admin.projects.allowProject({ name: "p1" });
    // The project change comes after the credential changes, so they would have arrived first.
    await w.until((e) => e.event.case === "upsertResource" && afterCaughtUp(w.events).includes(e));
    expect(changeLines(afterCaughtUp(w.events))).toEqual(["project+ p1 ALLOWED"]);
  });

  it("leaves a stream that names no kinds as it was: credentials only, as upsert and delete", async () => {
    const { tenant, runtime } = await runtimeTenant(path);
    const w = await caughtUp(runtime, { project: "p1" });
    const c = await put(tenant, "p1", "plain");
    await tenant.admin.projects.allowProject({ name: "p1" });
    const { revision } = await tenant.admin.credentials.deleteCredential({ id: c.id });
    await w.until((e) => e.revision === revision);
    expect(changeLines(afterCaughtUp(w.events))).toEqual(["upsert plain", "delete plain"]);
  });
});

describe("Pull naming kinds", () => {
  it("returns the same events as a Watch's catch-up, in the resource shape", async () => {
    const { tenant, runtime } = await runtimeTenant("Connect JSON, generic path");
    const gone = await put(tenant, "p1", "gone");
    await put(tenant, "", "kept");
    await tenant.admin.credentials.deleteCredential({ id: gone.id });
    const all = await runtime.sync.pull({ project: "p1", kinds: BOTH });
    expect(all.events.map(line)).toEqual(["reset", "project+ p1 ALLOWED", "credential+ kept"]);
    const since = await runtime.sync.pull({ project: "p1", sinceRevision: gone.revision, kinds: BOTH });
    expect(since.events.map(line)).toEqual(["credential+ kept", "credential- gone default p1"]);
    expect(since.revision).toBe(all.revision);
    // No kinds: as before, credentials only.
    const plain = await runtime.sync.pull({ project: "p1" });
    expect(plain.events.map(line)).toEqual(["reset", "upsert kept"]);
  });
});
