import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  type Credential,
  CredentialSchema,
  DeletedResourceSchema,
  type Project,
  ProjectSchema,
  ProjectState,
  ResourceKind,
  type WatchResponse,
  WatchResponseSchema,
} from "@engine-cloud/api";
import { createSyncState, type SyncState } from "./sync-state.js";

const ids = {
  google: "00000000-0000-4000-8000-000000000001",
  hubspot: "00000000-0000-4000-8000-000000000002",
  shared: "00000000-0000-4000-8000-000000000003",
};

const cred = (id: string, provider: string, revision: bigint, extra: MessageInitShape<typeof CredentialSchema> = {}) =>
  create(CredentialSchema, { id, provider, alias: "default", project: "acme", revision, ...extra });

const event = {
  reset: (revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "reset", value: {} } }),
  upsert: (c: Credential) => create(WatchResponseSchema, { revision: c.revision, event: { case: "upsert", value: c } }),
  delete: (id: string, revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "delete", value: { id } } }),
  caughtUp: (revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "caughtUp", value: {} } }),
  heartbeat: (revision: bigint) => create(WatchResponseSchema, { revision, event: { case: "heartbeat", value: {} } }),
};

/** The shapes of a stream that names kinds: every resource in one oneof. */
const kinded = {
  credential: (c: Credential) =>
    create(WatchResponseSchema, {
      revision: c.revision,
      event: { case: "upsertResource", value: { resource: { case: "credential", value: c } } },
    }),
  project: (p: Project, revision: bigint) =>
    create(WatchResponseSchema, {
      revision,
      event: { case: "upsertResource", value: { resource: { case: "project", value: p } } },
    }),
  delete: (kind: ResourceKind, id: string, revision: bigint, extra: MessageInitShape<typeof DeletedResourceSchema> = {}) =>
    create(WatchResponseSchema, { revision, event: { case: "deleteResource", value: { kind, id, ...extra } } }),
};

const projectRecord = (name: string, state = ProjectState.ALLOWED) => create(ProjectSchema, { name, state });

function applyAll(state: SyncState, events: WatchResponse[]) {
  return events.flatMap((e) => state.apply(e).changes);
}

describe("sync state: live changes", () => {
  it("applies upserts and deletes and tracks the revision", () => {
    const state = createSyncState({ project: "acme" });
    applyAll(state, [event.upsert(cred(ids.google, "google", 5n)), event.upsert(cred(ids.hubspot, "hubspot", 6n))]);
    applyAll(state, [event.delete(ids.google, 7n)]);
    expect(state.list().map((c) => c.id)).toEqual([ids.hubspot]);
    expect(state.revision).toBe(7n);
  });

  it("applies a repeated event once", () => {
    const state = createSyncState();
    const put = event.upsert(cred(ids.google, "google", 5n));
    expect(applyAll(state, [put, put, put])).toHaveLength(1);
  });

  it("ignores events at or below the applied revision", () => {
    const state = createSyncState();
    applyAll(state, [event.upsert(cred(ids.google, "google", 9n, { version: 2n }))]);
    const changes = applyAll(state, [
      event.upsert(cred(ids.google, "google", 8n, { version: 1n })),
      event.delete(ids.google, 9n),
      event.delete(ids.google, 3n),
    ]);
    expect(changes).toEqual([]);
    expect(state.get(ids.google)?.version).toBe(2n);
    expect(state.revision).toBe(9n);
  });

  it("does not announce the delete of a credential it never held, but moves past its revision", () => {
    const state = createSyncState();
    const step = state.apply(event.delete(ids.google, 4n));
    expect([step.changes, step.changed, state.revision]).toEqual([[], true, 4n]);
  });

  it("moves to the revision a heartbeat or CAUGHT_UP carries, never back", () => {
    const state = createSyncState({ initial: { revision: 10n, credentials: [] } });
    expect(state.apply(event.heartbeat(12n)).changed).toBe(true);
    expect(state.apply(event.caughtUp(11n))).toEqual({ changes: [], caughtUp: true, changed: false });
    expect(state.revision).toBe(12n);
  });

  it("ignores an event kind it does not know, without claiming its revision", () => {
    const state = createSyncState();
    state.apply(create(WatchResponseSchema, { revision: 50n }));
    expect(state.revision).toBe(0n);
  });

  it("resumes from a cached snapshot", () => {
    const state = createSyncState({
      project: "acme",
      initial: { revision: 20n, credentials: [cred(ids.google, "google", 20n)] },
    });
    expect(applyAll(state, [event.upsert(cred(ids.google, "google", 20n))])).toEqual([]);
    expect(state.get("google")?.id).toBe(ids.google);
  });
});

describe("sync state: RESET and snapshot", () => {
  it("keeps serving the previous set until CAUGHT_UP, then swaps in the whole snapshot", () => {
    const state = createSyncState({ initial: { revision: 3n, credentials: [cred(ids.google, "google", 3n)] } });
    applyAll(state, [event.reset(40n), event.upsert(cred(ids.hubspot, "hubspot", 30n))]);
    expect(state.resetting).toBe(true);
    expect(state.list().map((c) => c.id)).toEqual([ids.google]);

    const step = state.apply(event.caughtUp(40n));
    expect(step).toEqual({ changes: [{ type: "reset", revision: 40n }], caughtUp: true, changed: true });
    expect(state.list().map((c) => c.id)).toEqual([ids.hubspot]);
    expect(state.revision).toBe(40n);
  });

  it("accepts snapshot entries older than the revision applied before the RESET", () => {
    const state = createSyncState({ project: "acme", initial: { revision: 100n, credentials: [] } });
    applyAll(state, [event.reset(200n), event.upsert(cred(ids.google, "google", 7n)), event.caughtUp(200n)]);
    expect(state.get("google")?.revision).toBe(7n);
  });

  it("adopts the server's revision after a RESET even if it is lower (a restored server)", () => {
    const state = createSyncState({ initial: { revision: 500n, credentials: [] } });
    applyAll(state, [event.reset(90n), event.caughtUp(90n)]);
    expect(state.revision).toBe(90n);
  });

  it("applies snapshot entries once each, even repeated or out of order", () => {
    const state = createSyncState();
    applyAll(state, [
      event.reset(10n),
      event.upsert(cred(ids.google, "google", 8n)),
      event.upsert(cred(ids.hubspot, "hubspot", 10n)),
      event.delete(ids.google, 9n),
      event.upsert(cred(ids.google, "google", 8n)),
      event.caughtUp(10n),
    ]);
    expect(state.list().map((c) => c.id)).toEqual([ids.hubspot]);
    expect(state.revision).toBe(10n);
  });

  it("ends a mid-stream snapshot at the first change past the RESET, then applies that change", () => {
    const state = createSyncState({ project: "acme", initial: { revision: 3n, credentials: [cred(ids.google, "google", 3n)] } });
    const changes = applyAll(state, [
      event.reset(20n),
      event.upsert(cred(ids.hubspot, "hubspot", 15n)),
      event.upsert(cred(ids.shared, "slack", 21n)),
    ]);
    expect(changes.map((c) => [c.type, c.revision])).toEqual([
      ["reset", 20n],
      ["upsert", 21n],
    ]);
    expect(
      state
        .list()
        .map((c) => c.id)
        .sort(),
    ).toEqual([ids.hubspot, ids.shared]);
    expect(state.revision).toBe(21n);
  });

  it("ends a mid-stream snapshot at the first heartbeat", () => {
    const state = createSyncState({ initial: { revision: 3n, credentials: [cred(ids.google, "google", 3n)] } });
    applyAll(state, [event.reset(20n), event.upsert(cred(ids.hubspot, "hubspot", 15n))]);
    const step = state.apply(event.heartbeat(20n));
    expect(step).toEqual({ changes: [{ type: "reset", revision: 20n }], caughtUp: false, changed: true });
    expect(state.list().map((c) => c.id)).toEqual([ids.hubspot]);
  });

  it("drops a snapshot cut off by the end of the stream", () => {
    const state = createSyncState({ initial: { revision: 3n, credentials: [cred(ids.google, "google", 3n)] } });
    applyAll(state, [event.reset(40n), event.upsert(cred(ids.hubspot, "hubspot", 30n))]);
    state.abandonStream();
    expect([state.resetting, state.revision, state.list().map((c) => c.id)]).toEqual([false, 3n, [ids.google]]);
    // The next stream's CAUGHT_UP (after an incremental catch-up) must not commit the dropped snapshot.
    applyAll(state, [event.caughtUp(40n)]);
    expect(state.get(ids.hubspot)).toBeUndefined();
  });

  it("starts over when a second RESET arrives mid-snapshot", () => {
    const state = createSyncState();
    applyAll(state, [event.reset(10n), event.upsert(cred(ids.google, "google", 5n))]);
    applyAll(state, [event.reset(12n), event.upsert(cred(ids.hubspot, "hubspot", 12n)), event.caughtUp(12n)]);
    expect(state.list().map((c) => c.id)).toEqual([ids.hubspot]);
  });

  it("persists only committed state", () => {
    const state = createSyncState();
    const steps = [event.reset(10n), event.upsert(cred(ids.google, "google", 5n))].map((e) => state.apply(e));
    expect(steps.some((s) => s.changed)).toBe(false);
    expect(state.snapshot()).toEqual({ revision: 0n, credentials: [] });
  });
});

describe("sync state: lookup by name", () => {
  const state = createSyncState({
    project: "acme",
    initial: {
      revision: 9n,
      credentials: [
        cred(ids.google, "google", 1n, { alias: "work" }),
        cred(ids.shared, "google", 2n, { alias: "work", project: "" }),
        cred(ids.hubspot, "hubspot", 3n, { project: "" }),
      ],
    },
  });

  it('finds "provider/alias", "provider" (alias default) and an id', () => {
    expect(state.get("google/work")?.id).toBe(ids.google);
    expect(state.get("hubspot")?.id).toBe(ids.hubspot);
    expect(state.get(ids.shared)?.id).toBe(ids.shared);
    expect(state.get("salesforce")).toBeUndefined();
  });

  it("prefers the project's own credential over a tenant-wide one of the same name", () => {
    expect(state.get("google/work")?.project).toBe("acme");
    expect(state.get({ project: "", provider: "google", alias: "work" })?.id).toBe(ids.shared);
  });

  it("falls back to the tenant-wide credential once the project's own is deleted", () => {
    const s = createSyncState({ project: "acme", initial: state.snapshot() });
    s.apply(event.delete(ids.google, 10n));
    expect(s.get("google/work")?.id).toBe(ids.shared);
  });
});

describe("sync state: resources keyed by (kind, id)", () => {
  it("applies credentials sent as upsert_resource and delete_resource into the same state as upsert and delete", () => {
    const state = createSyncState({ project: "acme" });
    const changes = applyAll(state, [
      event.upsert(cred(ids.google, "google", 5n)),
      kinded.credential(cred(ids.hubspot, "hubspot", 6n)),
      kinded.delete(ResourceKind.CREDENTIAL, ids.google, 7n, {
        project: "acme",
        credential: { id: ids.google, provider: "google", alias: "default", project: "acme" },
      }),
    ]);
    expect(changes.map((c) => [c.type, c.revision])).toEqual([
      ["upsert", 5n],
      ["upsert", 6n],
      ["delete", 7n],
    ]);
    expect(state.get("hubspot")?.id).toBe(ids.hubspot);
    expect(state.list().map((c) => c.id)).toEqual([ids.hubspot]);
    expect(state.revision).toBe(7n);
  });

  it("announces a credential deleted without a tombstone with one naming its id and project", () => {
    const state = createSyncState({ initial: { revision: 1n, credentials: [cred(ids.google, "google", 1n)] } });
    const [change] = applyAll(state, [kinded.delete(ResourceKind.CREDENTIAL, ids.google, 2n, { project: "acme" })]);
    expect(change).toMatchObject({ type: "delete", id: ids.google, tombstone: { id: ids.google, project: "acme" } });
  });

  it("holds a project record by its name, apart from a credential whose id is the same string", () => {
    const state = createSyncState({ project: "acme" });
    applyAll(state, [event.upsert(cred(ids.google, "google", 5n)), kinded.project(projectRecord(ids.google), 6n)]);
    applyAll(state, [kinded.delete(ResourceKind.PROJECT, ids.google, 7n)]);
    expect(state.get(ids.google)?.provider).toBe("google");
    expect(state.resources(ResourceKind.PROJECT)).toEqual([]);
  });

  it("announces other kinds as resource changes, never as credential ones", () => {
    const state = createSyncState({ project: "acme" });
    const changes = applyAll(state, [
      kinded.project(projectRecord("acme"), 3n),
      kinded.project(projectRecord("acme", ProjectState.DENIED), 4n),
      kinded.delete(ResourceKind.PROJECT, "acme", 5n),
      kinded.delete(ResourceKind.PROJECT, "acme", 6n),
    ]);
    expect(changes.map((c) => [c.type, c.revision])).toEqual([
      ["upsertResource", 3n],
      ["upsertResource", 4n],
      ["deleteResource", 5n],
    ]);
    expect(changes[1]).toMatchObject({ kind: ResourceKind.PROJECT, id: "acme", resource: { case: "project" } });
    expect(state.list()).toEqual([]);
  });

  it("serves each kind's resources, and credentials through list() and get() alone", () => {
    const state = createSyncState({ project: "acme" });
    applyAll(state, [
      kinded.project(projectRecord("acme", ProjectState.DENIED), 3n),
      kinded.credential(cred(ids.google, "google", 4n)),
    ]);
    expect(state.resources(ResourceKind.PROJECT).map((p) => [p.name, p.state])).toEqual([["acme", ProjectState.DENIED]]);
    expect(state.resources(ResourceKind.CREDENTIAL).map((c) => c.id)).toEqual([ids.google]);
    expect(state.list().map((c) => c.id)).toEqual([ids.google]);
    expect(state.get("acme")).toBeUndefined();
  });

  it("applies snapshot entries once per (kind, id): a credential does not hide a project record of the same id", () => {
    const state = createSyncState();
    applyAll(state, [
      event.reset(10n),
      kinded.credential(cred(ids.google, "google", 9n)),
      kinded.project(projectRecord(ids.google), 8n),
      kinded.project(projectRecord("acme"), 6n),
      kinded.delete(ResourceKind.PROJECT, "acme", 7n),
      kinded.project(projectRecord("acme"), 6n),
      event.caughtUp(10n),
    ]);
    expect(state.list().map((c) => c.id)).toEqual([ids.google]);
    expect(state.resources(ResourceKind.PROJECT).map((p) => p.name)).toEqual([ids.google]);
  });

  it("replaces every kind at a RESET", () => {
    const state = createSyncState();
    applyAll(state, [kinded.project(projectRecord("old"), 2n), event.reset(5n), kinded.project(projectRecord("acme"), 4n)]);
    expect(state.resources(ResourceKind.PROJECT).map((p) => p.name)).toEqual(["old"]);
    applyAll(state, [event.caughtUp(5n)]);
    expect(state.resources(ResourceKind.PROJECT).map((p) => p.name)).toEqual(["acme"]);
  });

  it("ignores a resource of a kind it does not know, without claiming its revision", () => {
    const state = createSyncState();
    state.apply(create(WatchResponseSchema, { revision: 50n, event: { case: "upsertResource", value: {} } }));
    expect([state.revision, state.snapshot()]).toEqual([0n, { revision: 0n, credentials: [] }]);
  });

  it("snapshots other kinds beside the credentials and resumes from them", () => {
    const state = createSyncState({ project: "acme" });
    applyAll(state, [kinded.project(projectRecord("acme"), 3n), event.upsert(cred(ids.google, "google", 4n))]);
    const snapshot = state.snapshot();
    expect([snapshot.credentials.length, snapshot.resources?.length]).toEqual([1, 1]);
    const resumed = createSyncState({ project: "acme", initial: snapshot });
    expect(resumed.resources(ResourceKind.PROJECT).map((p) => p.name)).toEqual(["acme"]);
    expect(resumed.get("google")?.id).toBe(ids.google);
    expect(resumed.revision).toBe(4n);
  });
});
