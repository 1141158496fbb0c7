import { create } from "@bufbuild/protobuf";
import { TokenKind, TokenSchema, type Token } from "@engine-cloud/api";
import type { TokenKindColumn } from "../store/schema.js";
import type { TokenRow } from "../store/tokens.js";
import { optionalTimestamp as ts, protoEnumMap } from "./enum-map.js";

export const tokenKinds = protoEnumMap<TokenKindColumn, TokenKind>({
  platform_admin: TokenKind.PLATFORM_ADMIN,
  tenant_admin: TokenKind.TENANT_ADMIN,
  runtime: TokenKind.RUNTIME,
  service: TokenKind.SERVICE,
});

export function tokenToProto(t: TokenRow): Token {
  return create(TokenSchema, {
    id: t.id,
    tenantId: t.tenant_id,
    kind: tokenKinds.toProto(t.kind),
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
