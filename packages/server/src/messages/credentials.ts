import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CredentialSchema, CredentialType, type Credential } from "@engine-cloud/api";
import type { SecretValues } from "../crypto/credential-secrets.js";
import type { CredentialRow } from "../store/credentials.js";
import type { CredentialTypeColumn } from "../store/schema.js";
import { connectionStatuses } from "./connections.js";
import { optionalTimestamp as ts, protoEnumMap } from "./enum-map.js";

export const credentialTypes = protoEnumMap<CredentialTypeColumn, CredentialType>({
  oauth2: CredentialType.OAUTH2,
  api_key: CredentialType.API_KEY,
  basic: CredentialType.BASIC,
  generic: CredentialType.GENERIC,
});

/** A credential message; `secrets` absent means a listing (key names and expiries, no values). */
export function credentialToProto(row: CredentialRow, secrets?: SecretValues): Credential {
  return create(CredentialSchema, {
    id: row.id,
    project: row.project,
    provider: row.provider,
    alias: row.alias,
    identity: row.identity,
    type: credentialTypes.toProto(row.type),
    keys: Object.fromEntries(
      Object.entries(row.key_info).map(([name, info]) => [
        name,
        { value: secrets?.[name] ?? "", expiresAt: info.expires_at ? timestampFromDate(new Date(info.expires_at)) : undefined },
      ]),
    ),
    metadata: row.metadata,
    scopes: row.scopes,
    autoRefresh: row.auto_refresh,
    version: BigInt(row.version),
    revision: BigInt(row.revision),
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
    createdBy: row.created_by,
    updatedBy: row.updated_by,
    connection: row.connection_link
      ? {
          id: row.connection_link.id,
          status: connectionStatuses.toProto(row.connection_link.status),
          statusReason: row.connection_link.status_reason,
          statusDescription: row.connection_link.status_description,
          reauthorizeUrl: row.connection_link.reauthorize_url,
        }
      : undefined,
  });
}
