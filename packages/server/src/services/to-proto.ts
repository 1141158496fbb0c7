import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CredentialSchema,
  CredentialType,
  type Credential,
  ProjectSchema,
  ProjectState,
  TenantLimitsSchema,
  TenantSchema,
  TenantState,
  type TenantLimits as ProtoTenantLimits,
  TokenKind,
  TokenSchema,
  type Project,
  type Tenant,
  type Token,
} from "@engine-cloud/api";
import type { SecretValues } from "../crypto/credential-secrets.js";
import { isLimitName, type LimitName, type TenantLimits } from "../limits/tenant-limits.js";
import type { CredentialRow } from "../store/credentials.js";
import type { ProjectRow } from "../store/projects.js";
import type { CredentialTypeColumn, TokenKindColumn } from "../store/schema.js";
import type { TenantRow } from "../store/tenants.js";
import type { TokenRow } from "../store/tokens.js";

const ts = (d: Date | null) => (d ? timestampFromDate(d) : undefined);

export const TOKEN_KIND_TO_PROTO: Record<TokenKindColumn, TokenKind> = {
  platform_admin: TokenKind.PLATFORM_ADMIN,
  tenant_admin: TokenKind.TENANT_ADMIN,
  runtime: TokenKind.RUNTIME,
  service: TokenKind.SERVICE,
};

export function tokenKindFromProto(kind: TokenKind): TokenKindColumn {
  const entry = Object.entries(TOKEN_KIND_TO_PROTO).find(([, v]) => v === kind);
  if (!entry) throw new Error(`no token kind ${kind}`); // unreachable: validated by protovalidate
  return entry[0] as TokenKindColumn;
}

export function tokenToProto(t: TokenRow): Token {
  return create(TokenSchema, {
    id: t.id,
    tenantId: t.tenant_id,
    kind: TOKEN_KIND_TO_PROTO[t.kind],
    label: t.label,
    displayPrefix: t.display_prefix,
    projects: t.projects,
    createdAt: ts(t.created_at),
    createdBy: t.created_by,
    expiresAt: ts(t.expires_at),
    revokedAt: ts(t.revoked_at),
    lastUsedAt: ts(t.last_used_at),
  });
}

const TENANT_STATE_TO_PROTO = {
  active: TenantState.ACTIVE,
  suspended: TenantState.SUSPENDED,
  deleted: TenantState.DELETED,
} as const;

export function tenantToProto(t: TenantRow): Tenant {
  return create(TenantSchema, {
    id: t.id,
    slug: t.slug,
    displayName: t.display_name,
    state: TENANT_STATE_TO_PROTO[t.state],
    createdAt: ts(t.created_at),
    updatedAt: ts(t.updated_at),
    deletedAt: ts(t.deleted_at),
  });
}

export function projectToProto(p: ProjectRow): Project {
  return create(ProjectSchema, {
    name: p.name,
    state: p.state === "allowed" ? ProjectState.ALLOWED : ProjectState.DENIED,
    createdAt: ts(p.created_at),
    updatedAt: ts(p.updated_at),
    updatedBy: p.updated_by,
  });
}

const CREDENTIAL_TYPE_TO_PROTO: Record<CredentialTypeColumn, CredentialType> = {
  oauth2: CredentialType.OAUTH2,
  api_key: CredentialType.API_KEY,
  basic: CredentialType.BASIC,
  generic: CredentialType.GENERIC,
};

export function credentialTypeFromProto(t: CredentialType): CredentialTypeColumn {
  const entry = Object.entries(CREDENTIAL_TYPE_TO_PROTO).find(([, v]) => v === t);
  if (!entry) throw new Error(`no credential type ${t}`); // unreachable: validated by protovalidate
  return entry[0] as CredentialTypeColumn;
}

/** A credential message; `secrets` absent means a listing (key names and expiries, no values). */
export function credentialToProto(row: CredentialRow, secrets?: SecretValues): Credential {
  return create(CredentialSchema, {
    id: row.id,
    project: row.project,
    provider: row.provider,
    alias: row.alias,
    identity: row.identity,
    type: CREDENTIAL_TYPE_TO_PROTO[row.type],
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
  });
}

/** Limits by name (limits/tenant-limits.ts) as the proto message, whose field names are the limit names. */
export function tenantLimitsToProto(limits: Partial<TenantLimits>): ProtoTenantLimits {
  const init: Record<string, number> = {};
  for (const f of TenantLimitsSchema.fields) {
    const value = isLimitName(f.name) ? limits[f.name] : undefined;
    if (value !== undefined) init[f.localName] = value;
  }
  return create(TenantLimitsSchema, init);
}

/** The limits set in a proto message, by name. */
export function tenantLimitsFromProto(message: ProtoTenantLimits): Partial<Record<LimitName, number>> {
  const out: Partial<Record<LimitName, number>> = {};
  for (const f of TenantLimitsSchema.fields) {
    const value = (message as unknown as Record<string, number | undefined>)[f.localName];
    if (isLimitName(f.name) && value !== undefined) out[f.name] = value;
  }
  return out;
}
