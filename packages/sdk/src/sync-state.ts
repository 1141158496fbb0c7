import { credentialNameOf, resolveCredentialRef, type CredentialRef } from "./credential-ref.js";
import type { Credential, Tombstone, WatchResponse } from "@engine-cloud/api";

/** What a listener hears: one credential changed, or the whole set was replaced. */
export type SyncChange =
  | { type: "upsert"; credential: Credential; revision: bigint }
  | { type: "delete"; id: string; tombstone: Tombstone; revision: bigint }
  /** A full snapshot replaced everything held; re-read with list(). */
  | { type: "reset"; revision: bigint };

/** The outcome of applying one stream event. */
export interface SyncStep {
  /** What readers can now see differently, in order. */
  changes: SyncChange[];
  /** The event was CAUGHT_UP: the state is complete up to its revision. */
  caughtUp: boolean;
  /** The committed state (credentials or revision) changed and should be persisted. */
  changed: boolean;
}

/** The credentials a runtime holds and the revision they are current to. */
export interface SyncSnapshot {
  revision: bigint;
  credentials: Credential[];
}

/**
 * A runtime's view of its project's credentials, fed by Watch events. It does
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
  snapshot(): SyncSnapshot;
}

/** Credentials by id, with an index by (project, provider, alias). */
interface CredentialSet {
  byId: Map<string, Credential>;
  byName: Map<string, Credential>;
}

const nameKey = (project: string, name: string) => `${project}\u0000${name}`;
const keyOf = (c: Credential) => nameKey(c.project, credentialNameOf(c));

function emptySet(): CredentialSet {
  return { byId: new Map(), byName: new Map() };
}

function removeFrom(set: CredentialSet, id: string): Credential | undefined {
  const held = set.byId.get(id);
  if (!held) return undefined;
  set.byId.delete(id);
  // Only drop the name if it still points here: another id may have taken it since.
  if (set.byName.get(keyOf(held))?.id === id) set.byName.delete(keyOf(held));
  return held;
}

function putInto(set: CredentialSet, credential: Credential): void {
  removeFrom(set, credential.id);
  set.byId.set(credential.id, credential);
  set.byName.set(keyOf(credential), credential);
}

/** A snapshot being received after RESET; swapped in whole when it ends. */
interface Staging {
  set: CredentialSet;
  /** The RESET's revision: the snapshot holds every change up to it and none after. */
  resetRevision: bigint;
  /** The highest revision seen, RESET included. */
  revision: bigint;
  /** The highest revision seen per id, deletes included, so a repeated or older event cannot win. */
  seen: Map<string, bigint>;
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);
const nothing = (): SyncStep => ({ changes: [], caughtUp: false, changed: false });

export function createSyncState(options: { project?: string; initial?: SyncSnapshot } = {}): SyncState {
  let committed = emptySet();
  for (const c of options.initial?.credentials ?? []) putInto(committed, c);
  let revision = options.initial?.revision ?? 0n;
  let staging: Staging | undefined;

  /** The one moment readers switch sets: they see the old one or the complete new one, never a mix. */
  function commitStaging(s: Staging, markerRevision: bigint): SyncChange {
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
    switch (event.event.case) {
      case "upsert":
      case "delete": {
        if (rev > s.resetRevision) {
          const reset = commitStaging(s, s.resetRevision);
          const live = applyLive(event);
          return { changes: [reset, ...live.changes], caughtUp: false, changed: true };
        }
        const id = event.event.value.id;
        if ((s.seen.get(id) ?? -1n) >= rev) return nothing();
        s.seen.set(id, rev);
        if (event.event.case === "upsert") putInto(s.set, event.event.value);
        else removeFrom(s.set, id);
        s.revision = max(s.revision, rev);
        return nothing();
      }
      case "heartbeat":
        return { changes: [commitStaging(s, rev)], caughtUp: false, changed: true };
      case "caughtUp":
        return { changes: [commitStaging(s, rev)], caughtUp: true, changed: true };
      default:
        return nothing();
    }
  }

  function applyLive(event: WatchResponse): SyncStep {
    const rev = event.revision;
    switch (event.event.case) {
      case "upsert": {
        // Revisions only grow: anything at or below the applied one is a repeat.
        if (rev <= revision) return nothing();
        revision = rev;
        putInto(committed, event.event.value);
        return { changes: [{ type: "upsert", credential: event.event.value, revision: rev }], caughtUp: false, changed: true };
      }
      case "delete": {
        if (rev <= revision) return nothing();
        revision = rev;
        const removed = removeFrom(committed, event.event.value.id);
        const changes: SyncChange[] = removed
          ? [{ type: "delete", id: event.event.value.id, tombstone: event.event.value, revision: rev }]
          : [];
        return { changes, caughtUp: false, changed: true };
      }
      case "heartbeat":
      case "caughtUp": {
        // Carries the revision the runtime is at: changes up to it were not for this project.
        const advanced = rev > revision;
        if (advanced) revision = rev;
        return { changes: [], caughtUp: event.event.case === "caughtUp", changed: advanced };
      }
      default:
        // An event kind this SDK does not know: not applied, so its revision is not claimed either.
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
      if ("id" in resolved) return committed.byId.get(resolved.id);
      const name = credentialNameOf(resolved);
      if (resolved.project !== undefined) return committed.byName.get(nameKey(resolved.project, name));
      // The project's own credential shadows a tenant-wide one of the same name.
      return (
        (options.project ? committed.byName.get(nameKey(options.project, name)) : undefined) ??
        committed.byName.get(nameKey("", name))
      );
    },
    list() {
      return [...committed.byId.values()];
    },
    snapshot() {
      return { revision, credentials: [...committed.byId.values()] };
    },
  };
}
