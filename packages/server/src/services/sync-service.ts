import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { SyncService } from "@engine-cloud/sdk";
import { bearerOf } from "../auth/bearer.js";
import { readCatchUp } from "../sync/catch-up.js";
import { createCatchUpReader } from "../sync/catch-up-reader.js";
import { QueuedWatcher } from "../sync/queued-watcher.js";
import type { SyncAccessCheck } from "../sync/sync-access.js";
import type { SyncHub } from "../sync/sync-hub.js";
import { createTokenExpiry } from "../sync/token-expiry.js";
import { tenantScope } from "../tenancy/request-context.js";
import type { ServiceDeps } from "./deps.js";

/** Per slow stream, events held before it falls back to a database catch-up. */
const MAX_QUEUED_EVENTS = 256;

/**
 * The stock handler. Binary Watch streams are normally served by the fast
 * path in front of the connect adapter (transport/sync-fast-path.ts); this one
 * serves JSON codecs, calls with a deadline, and every Pull.
 */
export function createSyncService(deps: ServiceDeps & { hub: SyncHub; requireSyncAccess: SyncAccessCheck }): ServiceImpl<typeof SyncService> {
  const { db, keys, hub } = deps;
  const expiry = createTokenExpiry();
  const catchUp = createCatchUpReader(db, keys);
  const { requireSyncAccess } = deps;

  const authorizeSync = async (ctx: HandlerContext, project: string) => {
    const scope = tenantScope(ctx);
    await requireSyncAccess(scope, project);
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
      if (caller.expiresAt) expiry.track(watcher, caller.expiresAt);
      try {
        await hub.add(watcher);
        yield* watcher.stream((since) => catchUp(tenant.id, req.project, since), ctx.signal);
      } finally {
        expiry.untrack(watcher);
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
