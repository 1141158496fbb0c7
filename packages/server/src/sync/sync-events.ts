import { create, toBinary } from "@bufbuild/protobuf";
import { CaughtUpSchema, HeartbeatSchema, ResetSchema, WatchResponseSchema, type WatchResponse } from "@engine-cloud/api";
import { openSecrets } from "../crypto/credential-secrets.js";
import type { Logger } from "../log.js";
import type { CredentialRow } from "../store/credentials.js";
import { credentialToProto } from "../messages/credentials.js";

/** Flag byte and message length, ahead of every message of a stream. */
const FRAME_HEADER_BYTES = 5;

/**
 * One change, prepared once for every stream that will carry it: decrypted
 * once, and encoded to protobuf bytes at most once (on first use), however
 * many runtimes watch.
 */
export class SyncEvent {
  #frame?: Buffer;
  #bytes?: Uint8Array;
  constructor(
    readonly revision: number,
    /** The credential's project; "" is visible to every project. */
    readonly project: string,
    readonly message: WatchResponse,
  ) {}

  /** The protobuf encoding of the WatchResponse, computed once. */
  get bytes(): Uint8Array {
    return (this.#bytes ??= this.frame.subarray(FRAME_HEADER_BYTES));
  }

  /**
   * The event as one data frame of a gRPC, gRPC-Web or Connect stream (they
   * share the format: flag byte 0, 4-byte big-endian length, message), built
   * once. Every stream writes this same buffer: nothing is copied per stream.
   */
  get frame(): Buffer {
    if (!this.#frame) {
      const message = toBinary(WatchResponseSchema, this.message);
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.byteLength);
      frame.writeUInt8(0, 0);
      frame.writeUInt32BE(message.byteLength, 1);
      frame.set(message, FRAME_HEADER_BYTES);
      this.#frame = frame;
    }
    return this.#frame;
  }

  get isHeartbeat(): boolean {
    return this.message.event.case === "heartbeat";
  }

  visibleTo(project: string): boolean {
    return this.project === "" || this.project === project;
  }
}

export function changeEvent(row: CredentialRow, dataKey: Buffer): SyncEvent {
  const revision = BigInt(row.revision);
  const message =
    row.deleted_at || !row.sealed_keys
      ? create(WatchResponseSchema, {
          revision,
          event: { case: "delete", value: { id: row.id, provider: row.provider, alias: row.alias, project: row.project } },
        })
      : create(WatchResponseSchema, {
          revision,
          event: {
            case: "upsert",
            value: credentialToProto(row, openSecrets(dataKey, row.tenant_id, row.id, row.version, row.sealed_keys)),
          },
        });
  return new SyncEvent(row.revision, row.project, message);
}

/**
 * Decrypts and prepares changes, once each. A credential that fails to open
 * (tampered, or sealed under a key this server lacks) is logged, by ids only,
 * and left out rather than stalling every stream of its tenant (live fan-out)
 * or failing the catch-up of its whole project (finding L5).
 */
export function decodeChanges(rows: CredentialRow[], dataKey: Buffer, log: Logger): SyncEvent[] {
  const events: SyncEvent[] = [];
  for (const row of rows) {
    try {
      events.push(changeEvent(row, dataKey));
    } catch (err) {
      log.error("a credential could not be decrypted and was not sent", {
        tenant: row.tenant_id,
        credential: row.id,
        revision: row.revision,
        err: String(err),
      });
    }
  }
  return events;
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
  return new SyncEvent(revision, "", message);
}
