import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, RuntimeService, type ListRuntimesRequest } from "@engine-cloud/api";
import { permissionDenied } from "../errors/domain-error.js";
import { runtimeToProto } from "../messages/runtimes.js";
import { listPresence, type PresenceCursor } from "../store/runtime-presence.js";
import { withPlatform, withTenant } from "../store/with-tenant.js";
import { originOf, scopeOf, tenantScope } from "../tenancy/request-context.js";
import type { ServiceDeps } from "./deps.js";
import { decodePageToken, pageSizeOf, splitPage } from "./page-token.js";

/** ListRuntimes' tenant_id for "every tenant". */
const EVERY_TENANT = "*";

/** RuntimeService: who is connected, from the presence the Watch streams leave (sync/presence-buffer.ts). */
export function createRuntimeService(deps: Pick<ServiceDeps, "db">): ServiceImpl<typeof RuntimeService> {
  const { db } = deps;

  /**
   * The caller's tenant, under row-level security, or for a platform administrator the tenant
   * named (also under row-level security) or every tenant (on the owner connection).
   */
  const readPresence = (
    req: ListRuntimesRequest,
    ctx: HandlerContext,
    q: Omit<Parameters<typeof listPresence>[1], "tenantId">,
  ) => {
    const { caller, tenant } = tenantScope(ctx);
    const named = req.tenantId.toLowerCase();
    if (named && named !== tenant.id && !caller.platformAdmin) {
      throw permissionDenied(
        ErrorReason.PERMISSION_DENIED,
        "only a platform administrator may list another tenant's runtimes; leave tenant_id empty for your own",
      );
    }
    if (named === EVERY_TENANT) return withPlatform(db, originOf(ctx), ({ tx }) => listPresence(tx, q));
    const scope = named ? { ...scopeOf(ctx), tenantId: named } : scopeOf(ctx);
    return withTenant(db, scope, ({ tx, tenantId }) => listPresence(tx, { ...q, tenantId }));
  };

  return {
    async listRuntimes(req, ctx) {
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<PresenceCursor & Record<string, string>>(req.pageToken, {
        tenant: "uuid",
        project: "text",
        stream: "uuid",
      });
      const rows = await readPresence(req, ctx, {
        project: req.project,
        includeOffline: req.includeOffline,
        after,
        limit: size + 1,
      });
      const { page, next } = splitPage(rows, size, (r) => ({ tenant: r.tenant_id, project: r.project, stream: r.stream_id }));
      return { runtimes: page.map(runtimeToProto), nextPageToken: next };
    },
  };
}
