import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RuntimeSchema, RuntimeState, type Runtime } from "@engine-cloud/api";
import type { PresenceRow } from "../store/runtime-presence.js";
import { optionalTimestamp } from "./enum-map.js";

export function runtimeToProto(r: PresenceRow): Runtime {
  return create(RuntimeSchema, {
    streamId: r.stream_id,
    tenantId: r.tenant_id,
    // A person's session has no token: its label is the person's email.
    tokenId: r.principal_kind === "token" ? r.principal_id : "",
    tokenLabel: r.principal_label,
    project: r.project,
    info: {
      name: r.name,
      version: r.version,
      host: r.host,
      sdk: r.sdk,
      sdkVersion: r.sdk_version,
      language: r.language,
    },
    runtimeId: r.runtime_id,
    connectedSince: timestampFromDate(r.connected_at),
    lastSeenAt: timestampFromDate(r.last_seen_at),
    offlineSince: optionalTimestamp(r.offline_since),
    serverInstance: r.server_instance,
    revisionDelivered: BigInt(r.revision_delivered),
    revisionLag: BigInt(r.revision_lag),
    state: r.offline_since ? RuntimeState.OFFLINE : RuntimeState.CONNECTED,
  });
}
