import { create, fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import {
  ConnectFlowSchema,
  ConnectFlowState,
  ConnectionSchema,
  ConnectionStatus,
  OAuthAppSchema,
  OAuthProviderSchema,
  type ConnectFlow,
  type Connection,
  type OAuthApp,
  type OAuthProvider,
} from "@engine-cloud/api";
import type { ConnectionRow } from "../store/connections.js";
import type { OAuthAppRow } from "../store/oauth-apps.js";
import type { OAuthFlowRow } from "../store/oauth-flows.js";
import type { ConnectionStatusColumn, CustomProviderColumn } from "../store/schema.js";
import { optionalTimestamp as ts, protoEnumMap } from "./enum-map.js";

export const connectionStatuses = protoEnumMap<ConnectionStatusColumn, ConnectionStatus>({
  active: ConnectionStatus.ACTIVE,
  degraded: ConnectionStatus.DEGRADED,
  stale: ConnectionStatus.STALE,
  needs_reauth: ConnectionStatus.NEEDS_REAUTH,
  disconnected: ConnectionStatus.DISCONNECTED,
});

/** A connection message: never a token (the row's sealed_tokens are not read here). */
export function connectionToProto(row: ConnectionRow): Connection {
  return create(ConnectionSchema, {
    id: row.id,
    provider: row.provider,
    project: row.project,
    alias: row.alias,
    externalAccount: row.external_account,
    status: connectionStatuses.toProto(row.status),
    statusReason: row.status_reason,
    statusDescription: row.status_description,
    scopes: row.scopes,
    metadata: row.metadata,
    accessTokenExpiresAt: ts(row.access_expires_at),
    lastRefreshAt: ts(row.last_refresh_at),
    nextRefreshAt: ts(row.next_refresh_at),
    generation: BigInt(row.generation),
    sharedApp: row.shared_app,
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
  });
}

/** A flow's state: a pending one past its expiry is EXPIRED (the row is not rewritten for that). */
export function connectFlowToProto(row: OAuthFlowRow, now = new Date()): ConnectFlow {
  const state =
    row.status === "completed"
      ? ConnectFlowState.COMPLETED
      : row.status === "failed"
        ? ConnectFlowState.FAILED
        : row.expires_at <= now && row.status === "pending"
          ? ConnectFlowState.EXPIRED
          : ConnectFlowState.PENDING;
  return create(ConnectFlowSchema, {
    id: row.id,
    provider: row.provider,
    project: row.project,
    alias: row.alias,
    state,
    connectionId: row.connection_id ?? "",
    error: row.error,
    errorDescription: row.error_description,
    expiresAt: ts(row.expires_at),
  });
}

/** A custom provider as the column stores it: the message's JSON form. */
export const customProviderColumn = (p: OAuthProvider): CustomProviderColumn =>
  toJson(OAuthProviderSchema, { ...p, custom: true }) as JsonObject;
export const customProviderOf = (column: CustomProviderColumn): OAuthProvider =>
  create(OAuthProviderSchema, {
    ...fromJson(OAuthProviderSchema, column as JsonObject, { ignoreUnknownFields: true }),
    custom: true,
  });

/** An OAuth app message: `has_client_secret`, never the secret. */
export function oauthAppToProto(row: OAuthAppRow): OAuthApp {
  return create(OAuthAppSchema, {
    id: row.id,
    provider: row.provider,
    clientId: row.client_id,
    hasClientSecret: row.sealed_secret !== null,
    scopes: row.scopes,
    shared: row.shared,
    customProvider: row.custom_provider ? customProviderOf(row.custom_provider) : undefined,
    version: BigInt(row.version),
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
    updatedBy: row.updated_by,
  });
}
