import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { SyncService } from "@engine-cloud/sdk";
import { bearerOf } from "../auth/bearer.js";
import { unauthenticated } from "../errors/domain-error.js";
import { getProject } from "../store/projects.js";
import { readCatchUp } from "../sync/catch-up.js";
import { QueuedWatcher } from "../sync/queued-watcher.js";
import type { SyncHub } from "../sync/sync-hub.js";
import { requireProjectAllowed } from "../tenancy/project-policy.js";
import { tenantScope } from "../tenancy/request-context.js";
import { withTenant } from "../tenancy/with-tenant.js";
import type { ServiceDeps } from "./deps.js";

/** Per slow stream, events held before it falls back to a database catch-up. */
const MAX_QUEUED_EVENTS = 256;

export function createSyncService(deps: ServiceDeps & { hub: SyncHub }): ServiceImpl<typeof SyncService> {
  const { db, keys, hub } = deps;

  /** Sync obeys the tenant's project policy for every caller: unknown and denied projects are refused. */
  const authorizeSync = async (ctx: HandlerContext, project: string) => {
    const scope = tenantScope(ctx);
    const row = await withTenant(db, scope.tenant.id, (tx) => getProject(tx, scope.tenant.id, project));
    requireProjectAllowed(project, row, scope.caller.projects);
    return scope;
  };

  return {
    async *watch(req, ctx) {
      const { caller, tenant } = await authorizeSync(ctx, req.project);
      const watcher = new QueuedWatcher({
        tenantId: tenant.id,
        project: req.project,
        principalId: caller.principalId,
        bearer: bearerOf(ctx.requestHeader) ?? "",
        since: Number(req.sinceRevision),
        maxQueue: MAX_QUEUED_EVENTS,
      });
      const expiry =
        caller.expiresAt &&
        setTimeout(
          () => watcher.terminate(unauthenticated("TOKEN_EXPIRED", "the token has expired; ask an administrator for a new one")),
          Math.max(0, caller.expiresAt.getTime() - Date.now()),
        );
      await hub.add(watcher);
      try {
        yield* watcher.stream((since) => readCatchUp(db, keys, tenant.id, req.project, since), ctx.signal);
      } finally {
        if (expiry) clearTimeout(expiry);
        hub.remove(watcher);
      }
    },
    async pull(req, ctx) {
      const { tenant } = await authorizeSync(ctx, req.project);
      const result = await readCatchUp(db, keys, tenant.id, req.project, Number(req.sinceRevision));
      return { events: result.events.map((e) => e.message), revision: BigInt(result.revision) };
    },
  };
}
