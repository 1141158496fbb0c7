import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, TokenService } from "@engine-cloud/api";
import { actorLabelOf, type Caller } from "../auth/caller.js";
import { displayPrefix, hashToken, mintToken } from "../auth/token-format.js";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "../errors/domain-error.js";
import type { TokenKindColumn } from "../store/schema.js";
import { getToken, insertToken, listTokens, revokeToken } from "../store/tokens.js";
import { permissionsOfTokenKind } from "../auth/permissions.js";
import { scopeOf, tenantScope, type TenantRef } from "../tenancy/request-context.js";
import { tokenReachOf } from "../tenancy/token-reach.js";
import { withTenant } from "../store/with-tenant.js";
import type { ServiceDeps } from "./deps.js";
import { decodeIdPageToken, pageSizeOf, splitPage } from "./page-token.js";
import { tokenKinds, tokenToProto } from "../messages/tokens.js";

/**
 * A caller may only issue tokens that can do no more than it can: no
 * escalation by minting. Platform admin tokens live in the operator tenant.
 */
function requireIssuable(caller: Caller, tenant: TenantRef, kind: TokenKindColumn, projects: string[]): void {
  if (kind === "platform_admin") {
    if (!caller.platformAdmin)
      throw permissionDenied(ErrorReason.PERMISSION_DENIED, "only a platform administrator may create platform admin tokens");
    if (tenant.id !== caller.homeTenantId) {
      throw failedPrecondition(
        ErrorReason.PLATFORM_TOKEN_TENANT,
        "platform admin tokens belong to the operator tenant; do not name a tenant",
      );
    }
  }
  for (const p of permissionsOfTokenKind(kind)) {
    if (!caller.permissions.has(p)) {
      throw permissionDenied(ErrorReason.PERMISSION_DENIED, `a ${kind} token may do more than this credential (${p})`);
    }
  }
  if (projects.length > 0 && kind !== "runtime" && kind !== "service") {
    throw invalidArgument("projects", "only runtime and service tokens can be limited to projects");
  }
}

/** A token as an audit event names it: its id (the target), kind and display prefix; never its secret or hash. */
const tokenAuditDetail = (row: { kind: string; display_prefix: string; label: string }) => ({
  kind: row.kind,
  display_prefix: row.display_prefix,
  label: row.label,
});

export function createTokenService(deps: Pick<ServiceDeps, "db" | "feed" | "tokenKey">): ServiceImpl<typeof TokenService> {
  const { db, feed, tokenKey } = deps;

  const tokenNotFound = (id: string) =>
    notFound(ErrorReason.TOKEN_NOT_FOUND, `no token ${id} in this tenant; list the tokens to find the right id`);

  return {
    async createToken(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const kind = tokenKinds.fromProto(req.kind);
      requireIssuable(caller, tenant, kind, req.projects);
      const secret = mintToken(kind, tokenKey);
      const row = await withTenant(db, scopeOf(ctx), async ({ tx, audit }) => {
        const inserted = await insertToken(tx, {
          tenantId: tenant.id,
          kind,
          label: req.label,
          displayPrefix: displayPrefix(secret),
          secretHash: hashToken(secret, tokenKey),
          projects: req.projects,
          createdBy: actorLabelOf(caller),
          expiresAt: req.expiresAt ? timestampDate(req.expiresAt) : undefined,
        });
        audit.record({ action: "token.create", target: `token:${inserted.id}`, detail: tokenAuditDetail(inserted) });
        return inserted;
      });
      // No announcement: a new token is in no cache, and its hash was never seen.
      return { token: tokenToProto(row), secret };
    },
    async getToken(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const row = await withTenant(db, scopeOf(ctx), ({ tx }) => getToken(tx, tenant.id, req.id, tokenReachOf(caller)));
      if (!row) throw tokenNotFound(req.id);
      return { token: tokenToProto(row) };
    },
    async listTokens(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const afterId = decodeIdPageToken(req.pageToken);
      const rows = await withTenant(db, scopeOf(ctx), ({ tx }) =>
        listTokens(tx, tenant.id, {
          limit: size + 1,
          afterId,
          showInactive: req.showInactive,
          now: new Date(),
          reach: tokenReachOf(caller),
        }),
      );
      const { page, next } = splitPage(rows, size, (t) => ({ id: t.id }));
      return { tokens: page.map(tokenToProto), nextPageToken: next };
    },
    async revokeToken(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const row = await withTenant(db, scopeOf(ctx), async ({ tx, afterCommit, audit }) => {
        const revoked = await revokeToken(tx, tenant.id, req.id, tokenReachOf(caller));
        if (!revoked) throw tokenNotFound(req.id);
        audit.record({ action: "token.revoke", target: `token:${revoked.id}`, detail: tokenAuditDetail(revoked) });
        // Confirmed: this process evicts at once, the others on NOTIFY, before the call returns.
        afterCommit(() => feed.publishConfirmed({ type: "token", tenantId: tenant.id, tokenId: revoked.id }));
        return revoked;
      });
      return { token: tokenToProto(row) };
    },
  };
}
