import { create } from "@bufbuild/protobuf";
import { credentialNameOf, resolveCredentialRef, type CredentialRef } from "./credential-ref.js";
import {
  type Credential,
  type Project,
  ResourceKind,
  type SyncedResource,
  SyncedResourceSchema,
  type Tombstone,
  TombstoneSchema,
  type WatchResponse,
} from "@engine-cloud/api";

/** The message each resource kind this SDK knows is held as. */
export interface ResourceOfKind {
  [ResourceKind.CREDENTIAL]: Credential;
  [ResourceKind.PROJECT]: Project;
}

/** A resource kind this SDK can hold. */
export type KnownResourceKind = keyof ResourceOfKind;

/** What a listener hears: one credential changed, or the whole set was replaced. */
export type SyncChange =
  | { type: "upsert"; credential: Credential; revision: bigint }
  | { type: "delete"; id: string; tombstone: Tombstone; revision: bigint }
  /** A full snapshot replaced everything held; re-read with list(). */
  | { type: "reset"; revision: bigint };

/**
 * What a resource listener hears, for kinds other than credentials (streams
 * that asked for them): one resource changed, or everything was replaced. A
 * type of its own, so SyncChange listeners see exactly what they always have.
 */
export type ResourceChange =
  | { type: "upsertResource"; kind: ResourceKind; id: string; resource: SyncedResource["resource"]; revision: bigint }
  | { type: "deleteResource"; kind: ResourceKind; id: string; revision: bigint }
  /** A full snapshot replaced everything held, of every kind; re-read with resources(). */
  | { type: "reset"; revision: bigint };

/** The outcome of applying one stream event. */
export interface SyncStep {
  /** What readers can now see differently, in order; a reset is both kinds of change. */
  changes: Array<SyncChange | ResourceChange>;
  /** The event was CAUGHT_UP: the state is complete up to its revision. */
  caughtUp: boolean;
  /** The committed state (resources or revision) changed and should be persisted. */
  changed: boolean;
}

/** The resources a runtime holds and the revision they are current to. */
export interface SyncSnapshot {
  revision: bigint;
  credentials: Credential[];
  /** Resources of the other kinds; absent when there are none, so a credentials-only snapshot keeps its shape. */
  resources?: SyncedResource[];
}

/**
 * A runtime's view of its project's resources, fed by Watch events. It does
 * no I/O, so every ordering rule is testable without a server.
 */
export interface SyncState {
  /** The last revision applied; Watch resumes from it. */
  readonly revision: bigint;
  /** Whether a RESET's snapshot is being received (readers still see the previous set). */
  readonly resetting: boolean;
  apply(event: WatchResponse): SyncStep;
  /** The stream ended: a snapshot it was sending is incomplete and is dropped. */
  abandonStream(): void;
  /** By id, "provider/alias", "provider", or an object ref; see EngineSyncProvider.get. */
  get(ref: string | CredentialRef): Credential | undefined;
  list(): Credential[];
  /** Every resource held of one kind; for credentials the same as list(). */
  resources<K extends KnownResourceKind>(kind: K): ResourceOfKind[K][];
  snapshot(): SyncSnapshot;
}

/**
 * A resource's kind and the key it is held under within it: a credential's
 * id, a project record's name (as DeletedResource.id names them). Undefined
 * for a kind newer than this SDK, which it cannot key and so does not hold.
 */
export function resourceKeyOf(resource: SyncedResource): { kind: KnownResourceKind; id: string } | undefined {
  const r = resource.resource;
  switch (r.case) {
    case "credential":
      return { kind: ResourceKind.CREDENTIAL, id: r.value.id };
    case "project":
      return { kind: ResourceKind.PROJECT, id: r.value.name };
    case undefined:
      return undefined;
    default:
      return r satisfies never;
  }
}

/** One change event, whichever wire shape carried it, as what happened to which (kind, id). */
type KeyedChange =
  | { op: "put"; kind: ResourceKind; id: string; resource: SyncedResource }
  /** For credentials the tombstone is always set: listeners get one whatever the wire shape. */
  | { op: "remove"; kind: ResourceKind; id: string; tombstone?: Tombstone };

/**
 * Streams that name no kinds send credentials as `upsert`/`delete`; streams
 * that do send every kind as `upsertResource`/`deleteResource`. Both land in
 * the same (kind, id)-keyed state. Undefined for anything that is not a change.
 */
function changeOf(event: WatchResponse): KeyedChange | undefined {
  const e = event.event;
  switch (e.case) {
    case "upsert": {
      const resource = create(SyncedResourceSchema, { resource: { case: "credential", value: e.value } });
      return { op: "put", kind: ResourceKind.CREDENTIAL, id: e.value.id, resource };
    }
    case "delete":
      return { op: "remove", kind: ResourceKind.CREDENTIAL, id: e.value.id, tombstone: e.value };
    case "upsertResource": {
      const key = resourceKeyOf(e.value);
      return key && { op: "put", ...key, resource: e.value };
    }
    case "deleteResource": {
      const { kind, id, project } = e.value;
      const tombstone =
        kind === ResourceKind.CREDENTIAL ? (e.value.credential ?? create(TombstoneSchema, { id, project })) : undefined;
      return { op: "remove", kind, id, tombstone };
    }
    default:
      return undefined;
  }
}

/** Resources by kind and id, with an index of credentials by (project, provider, alias). */
interface ResourceSet {
  byKind: Map<ResourceKind, Map<string, SyncedResource>>;
  credentialsByName: Map<string, Credential>;
}

const nameKey = (project: string, name: string) => `${project}\u0000${name}`;
const nameKeyOf = (c: Credential) => nameKey(c.project, credentialNameOf(c));
const resourceKey = (kind: ResourceKind, id: string) => `${kind}\u0000${id}`;

function emptySet(): ResourceSet {
  return { byKind: new Map(), credentialsByName: new Map() };
}

function removeFrom(set: ResourceSet, kind: ResourceKind, id: string): SyncedResource | undefined {
  const ofKind = set.byKind.get(kind);
  const held = ofKind?.get(id);
  if (!ofKind || !held) return undefined;
  ofKind.delete(id);
  if (held.resource.case === "credential") {
    // Only drop the name if it still points here: another id may have taken it since.
    const name = nameKeyOf(held.resource.value);
    if (set.credentialsByName.get(name)?.id === id) set.credentialsByName.delete(name);
  }
  return held;
}

function putInto(set: ResourceSet, kind: ResourceKind, id: string, resource: SyncedResource): void {
  removeFrom(set, kind, id);
  let ofKind = set.byKind.get(kind);
  if (!ofKind) set.byKind.set(kind, (ofKind = new Map()));
  ofKind.set(id, resource);
  if (resource.resource.case === "credential") {
    set.credentialsByName.set(nameKeyOf(resource.resource.value), resource.resource.value);
  }
}

function valuesOf<K extends KnownResourceKind>(set: ResourceSet, kind: K): ResourceOfKind[K][] {
  // resourceKeyOf() files each resource under the kind of its oneof case, so the value is that kind's message.
  return [...(set.byKind.get(kind)?.values() ?? [])].map((r) => r.resource.value as ResourceOfKind[K]);
}

function setOf(snapshot: SyncSnapshot | undefined): ResourceSet {
  const set = emptySet();
  for (const c of snapshot?.credentials ?? []) {
    putInto(set, ResourceKind.CREDENTIAL, c.id, create(SyncedResourceSchema, { resource: { case: "credential", value: c } }));
  }
  for (const r of snapshot?.resources ?? []) {
    const key = resourceKeyOf(r);
    if (key) putInto(set, key.kind, key.id, r);
  }
  return set;
}

/** A snapshot being received after RESET; swapped in whole when it ends. */
interface Staging {
  set: ResourceSet;
  /** The RESET's revision: the snapshot holds every change up to it and none after. */
  resetRevision: bigint;
  /** The highest revision seen, RESET included. */
  revision: bigint;
  /** The highest revision seen per (kind, id), deletes included, so a repeated or older event cannot win. */
  seen: Map<string, bigint>;
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);
const nothing = (): SyncStep => ({ changes: [], caughtUp: false, changed: false });

export function createSyncState(options: { project?: string; initial?: SyncSnapshot } = {}): SyncState {
  let committed = setOf(options.initial);
  let revision = options.initial?.revision ?? 0n;
  let staging: Staging | undefined;

  /** The one moment readers switch sets: they see the old one or the complete new one, never a mix. */
  function commitStaging(s: Staging, markerRevision: bigint): Extract<SyncChange, { type: "reset" }> {
    committed = s.set;
    revision = max(s.revision, markerRevision);
    staging = undefined;
    return { type: "reset", revision };
  }

  /**
   * A snapshot ends at CAUGHT_UP, or, for a RESET in mid-stream (the server
   * resets a reader that fell too far behind and sends no second CAUGHT_UP),
   * at the first heartbeat or change past the RESET's revision: snapshot
   * entries are never newer than it, and heartbeats only follow a catch-up.
   */
  function applyToStaging(event: WatchResponse, s: Staging): SyncStep {
    const rev = event.revision;
    const change = changeOf(event);
    if (change) {
      if (rev > s.resetRevision) {
        const reset = commitStaging(s, s.resetRevision);
        const live = applyLive(event);
        return { changes: [reset, ...live.changes], caughtUp: false, changed: true };
      }
      const key = resourceKey(change.kind, change.id);
      if ((s.seen.get(key) ?? -1n) >= rev) return nothing();
      s.seen.set(key, rev);
      if (change.op === "put") putInto(s.set, change.kind, change.id, change.resource);
      else removeFrom(s.set, change.kind, change.id);
      s.revision = max(s.revision, rev);
      return nothing();
    }
    switch (event.event.case) {
      case "heartbeat":
        return { changes: [commitStaging(s, rev)], caughtUp: false, changed: true };
      case "caughtUp":
        return { changes: [commitStaging(s, rev)], caughtUp: true, changed: true };
      default:
        return nothing();
    }
  }

  /** What listeners hear of a change: credentials as they always have, other kinds as resource changes. */
  function announce(change: KeyedChange, held: SyncedResource | undefined, rev: bigint): SyncStep["changes"] {
    if (change.op === "put") {
      const r = change.resource.resource;
      return r.case === "credential"
        ? [{ type: "upsert", credential: r.value, revision: rev }]
        : [{ type: "upsertResource", kind: change.kind, id: change.id, resource: r, revision: rev }];
    }
    // The delete of something never held is not announced.
    if (!held) return [];
    return change.tombstone && change.kind === ResourceKind.CREDENTIAL
      ? [{ type: "delete", id: change.id, tombstone: change.tombstone, revision: rev }]
      : [{ type: "deleteResource", kind: change.kind, id: change.id, revision: rev }];
  }

  function applyLive(event: WatchResponse): SyncStep {
    const rev = event.revision;
    const change = changeOf(event);
    if (change) {
      // Revisions only grow: anything at or below the applied one is a repeat.
      if (rev <= revision) return nothing();
      revision = rev;
      const held =
        change.op === "put"
          ? (putInto(committed, change.kind, change.id, change.resource), change.resource)
          : removeFrom(committed, change.kind, change.id);
      return { changes: announce(change, held, rev), caughtUp: false, changed: true };
    }
    switch (event.event.case) {
      case "heartbeat":
      case "caughtUp": {
        // Carries the revision the runtime is at: changes up to it were not for this project.
        const advanced = rev > revision;
        if (advanced) revision = rev;
        return { changes: [], caughtUp: event.event.case === "caughtUp", changed: advanced };
      }
      default:
        // An event (or resource kind) this SDK does not know: not applied, so its revision is not claimed either.
        return nothing();
    }
  }

  return {
    get revision() {
      return revision;
    },
    get resetting() {
      return staging !== undefined;
    },
    apply(event) {
      if (event.event.case === "reset") {
        // The server may reset at any point, even mid-snapshot; each RESET starts over.
        staging = { set: emptySet(), resetRevision: event.revision, revision: event.revision, seen: new Map() };
        return nothing();
      }
      return staging ? applyToStaging(event, staging) : applyLive(event);
    },
    abandonStream() {
      staging = undefined;
    },
    get(ref) {
      const resolved = resolveCredentialRef(ref);
      if ("id" in resolved) {
        const held = committed.byKind.get(ResourceKind.CREDENTIAL)?.get(resolved.id)?.resource;
        return held?.case === "credential" ? held.value : undefined;
      }
      const name = credentialNameOf(resolved);
      const byName = committed.credentialsByName;
      if (resolved.project !== undefined) return byName.get(nameKey(resolved.project, name));
      // The project's own credential shadows a tenant-wide one of the same name.
      return (options.project ? byName.get(nameKey(options.project, name)) : undefined) ?? byName.get(nameKey("", name));
    },
    list() {
      return valuesOf(committed, ResourceKind.CREDENTIAL);
    },
    resources(kind) {
      return valuesOf(committed, kind);
    },
    snapshot() {
      const others = [...committed.byKind]
        .filter(([kind]) => kind !== ResourceKind.CREDENTIAL)
        .flatMap(([, ofKind]) => [...ofKind.values()]);
      return {
        revision,
        credentials: valuesOf(committed, ResourceKind.CREDENTIAL),
        ...(others.length > 0 ? { resources: others } : {}),
      };
    },
  };
}
