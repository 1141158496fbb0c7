import { create, toBinary } from "@bufbuild/protobuf";
import {
  CaughtUpSchema,
  HeartbeatSchema,
  ResetSchema,
  ResourceKind,
  WatchResponseSchema,
  type WatchResponse,
} from "@engine-cloud/api";
import { credentialToProto } from "../messages/credentials.js";
import { projectToProto } from "../messages/projects.js";
import type { ChangeKindColumn } from "../store/schema.js";
import type { ResourceChange } from "./resource-changes.js";

/** Flag byte and message length, ahead of every message of a stream. */
const FRAME_HEADER_BYTES = 5;

/**
 * How a stream's events look on the wire. "credentials": the stream named no
 * kinds, so it carries credentials only, as `upsert` and `delete` (every
 * runtime that predates kinds). "resources": it named kinds, and every change
 * travels as `upsert_resource` / `delete_resource`.
 */
export type StreamShape = "credentials" | "resources";
const SHAPES = 2;

/** What one stream sees: its project, the kinds it asked for, and their shape. */
export interface SyncView {
  readonly project: string;
  readonly kinds: ReadonlySet<ChangeKindColumn>;
  readonly shape: StreamShape;
  /** Names the view for sharing reads between streams that see alike. */
  readonly key: string;
}

const kindColumns: Record<ResourceKind, ChangeKindColumn | undefined> = {
  [ResourceKind.UNSPECIFIED]: undefined,
  [ResourceKind.CREDENTIAL]: "credential",
  [ResourceKind.PROJECT]: "project",
};

const CREDENTIALS_ONLY: ReadonlySet<ChangeKindColumn> = new Set(["credential"]);

/** The view of a Watch or Pull request: no kinds means credentials in their original shape. */
export function syncViewOf(project: string, kinds: readonly ResourceKind[]): SyncView {
  if (kinds.length === 0) return { project, kinds: CREDENTIALS_ONLY, shape: "credentials", key: "" };
  const named = new Set(kinds.map((k) => kindColumns[k]).filter((k): k is ChangeKindColumn => k !== undefined));
  return { project, kinds: named, shape: "resources", key: [...named].sort().join(",") };
}

/**
 * Who sees a change of each kind, given the change's `project` (its
 * visibility scope in the change log): a rule of the kind, not of the
 * stream. Credentials: their project's runtimes, and every runtime of the
 * tenant when tenant-wide (""). A project's policy record: that project's
 * runtimes only.
 */
const visibility: Record<ChangeKindColumn, (changeProject: string, viewer: string) => boolean> = {
  credential: (p, viewer) => p === "" || p === viewer,
  project: (p, viewer) => p === viewer,
};

/**
 * One change (or marker), prepared once for every stream that will carry it:
 * decrypted once when read, and built and encoded to protobuf bytes at most
 * once per wire shape (on first use), however many runtimes watch. Every
 * stream of a shape writes the same frame buffer.
 */
export class SyncEvent {
  readonly #messages: Array<WatchResponse | undefined> = new Array(SHAPES);
  readonly #frames: Array<Buffer | undefined> = new Array(SHAPES);
  readonly #build: (shape: StreamShape) => WatchResponse;
  /** Set for markers only. */
  #marker?: "reset" | "caughtUp" | "heartbeat";
  constructor(
    readonly revision: number,
    /** The change's kind; undefined for markers (RESET, CAUGHT_UP, heartbeats), which every stream sees. */
    readonly kind: ChangeKindColumn | undefined,
    /** Its visibility scope: see `visibility`. */
    readonly project: string,
    build: (shape: StreamShape) => WatchResponse,
  ) {
    this.#build = build;
  }

  /** The WatchResponse in this shape, built once. */
  messageFor(shape: StreamShape): WatchResponse {
    const i = shape === "credentials" ? 0 : 1;
    return (this.#messages[i] ??= this.#build(shape));
  }

  /**
   * The event as one data frame of a gRPC, gRPC-Web or Connect stream (they
   * share the format: flag byte 0, 4-byte big-endian length, message), built
   * once per shape. Every stream writes this same buffer: nothing is copied per stream.
   */
  frameFor(shape: StreamShape): Buffer {
    const i = shape === "credentials" ? 0 : 1;
    let frame = this.#frames[i];
    if (!frame) {
      const message = toBinary(WatchResponseSchema, this.messageFor(shape));
      frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.byteLength);
      frame.writeUInt8(0, 0);
      frame.writeUInt32BE(message.byteLength, 1);
      frame.set(message, FRAME_HEADER_BYTES);
      this.#frames[i] = frame;
      // Markers look alike in both shapes: one frame serves both.
      if (!this.kind) this.#frames[1 - i] = frame;
    }
    return frame;
  }

  get isHeartbeat(): boolean {
    return this.#marker === "heartbeat";
  }

  get isReset(): boolean {
    return this.#marker === "reset";
  }

  static marker(kind: "reset" | "caughtUp" | "heartbeat", message: WatchResponse): SyncEvent {
    const e = new SyncEvent(Number(message.revision), undefined, "", () => message);
    e.#marker = kind;
    return e;
  }

  visibleTo(view: SyncView): boolean {
    if (!this.kind) return true;
    return view.kinds.has(this.kind) && visibility[this.kind](this.project, view.project);
  }
}

const resourceKinds: Record<ChangeKindColumn, ResourceKind> = {
  credential: ResourceKind.CREDENTIAL,
  project: ResourceKind.PROJECT,
};

/** The event of a change read from the change log (sync/resource-changes.ts). */
export function changeEvent(change: ResourceChange): SyncEvent {
  const revision = BigInt(change.revision);
  return new SyncEvent(change.revision, change.kind, change.project, (shape) => {
    if (change.kind === "credential") {
      const { id, project } = change;
      if (change.tombstone) {
        const tombstone = { id, provider: change.tombstone.provider, alias: change.tombstone.alias, project };
        return shape === "credentials"
          ? create(WatchResponseSchema, { revision, event: { case: "delete", value: tombstone } })
          : create(WatchResponseSchema, {
              revision,
              event: { case: "deleteResource", value: { kind: ResourceKind.CREDENTIAL, id, project, credential: tombstone } },
            });
      }
      const credential = credentialToProto(change.live.row, change.live.secrets);
      return shape === "credentials"
        ? create(WatchResponseSchema, { revision, event: { case: "upsert", value: credential } })
        : create(WatchResponseSchema, {
            revision,
            event: { case: "upsertResource", value: { resource: { case: "credential", value: credential } } },
          });
    }
    // Projects never reach a stream of the credentials shape (see visibleTo); the resource shape is all they have.
    if (!change.record) {
      return create(WatchResponseSchema, {
        revision,
        event: { case: "deleteResource", value: { kind: resourceKinds.project, id: change.id, project: change.project } },
      });
    }
    return create(WatchResponseSchema, {
      revision,
      event: { case: "upsertResource", value: { resource: { case: "project", value: projectToProto(change.record) } } },
    });
  });
}

export function markerEvent(kind: "reset" | "caughtUp" | "heartbeat", revision: number, reason = ""): SyncEvent {
  const message = create(WatchResponseSchema, { revision: BigInt(revision) });
  switch (kind) {
    case "reset":
      message.event = { case: "reset", value: create(ResetSchema, { reason }) };
      break;
    case "caughtUp":
      message.event = { case: "caughtUp", value: create(CaughtUpSchema) };
      break;
    case "heartbeat":
      message.event = { case: "heartbeat", value: create(HeartbeatSchema) };
      break;
  }
  return SyncEvent.marker(kind, message);
}
