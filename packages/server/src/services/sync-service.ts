import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { SyncService } from "@engine-cloud/api";
import { readCatchUp } from "../sync/catch-up.js";
import { createCatchUpReader } from "../sync/catch-up-reader.js";
import { watchTargetOf, type WatchOpener } from "../sync/open-watch.js";
import { QueuedWatcher } from "../sync/queued-watcher.js";
import type { SyncAccessCheck } from "../sync/sync-access.js";
import { syncViewOf } from "../sync/sync-events.js";
import type { CredentialVault } from "../vault/credentials.js";
import { originOf, tenantScope } from "../tenancy/request-context.js";
import type { Logger } from "../log.js";
import type { ServiceDeps } from "./deps.js";

/** Per slow stream, events held before it falls back to a database catch-up. */
const MAX_QUEUED_EVENTS = 256;

/**
 * The stock handler. Binary Watch streams are normally served by the fast
 * path in front of the connect adapter (transport/sync-fast-path.ts); this one
 * serves JSON codecs, calls with a deadline, and every Pull.
 */
export function createSyncService(
  deps: ServiceDeps & { watches: WatchOpener; requireSyncAccess: SyncAccessCheck; log: Logger; vault: CredentialVault },
): ServiceImpl<typeof SyncService> {
  const { db, vault, watches, log } = deps;
  const catchUp = createCatchUpReader(db, vault, log);
  const { requireSyncAccess } = deps;

  const authorizeSync = async (ctx: HandlerContext, project: string) => {
    const scope = tenantScope(ctx);
    await requireSyncAccess(scope, project);
    return scope;
  };

  return {
    async *watch(req, ctx) {
      const scope = await authorizeSync(ctx, req.project);
      const target = watchTargetOf(scope, req, ctx.requestHeader);
      const watcher = new QueuedWatcher(target, MAX_QUEUED_EVENTS);
      await watches.open(watcher, target.expiresAt);
      try {
        yield* watcher.stream((since) => catchUp(target.tenantId, target.view, since), ctx.signal);
      } finally {
        watches.close(watcher);
      }
    },
    async pull(req, ctx) {
      const { tenant } = await authorizeSync(ctx, req.project);
      const view = syncViewOf(req.project, req.kinds);
      const result = await readCatchUp(db, vault, tenant.id, view, Number(req.sinceRevision), log, originOf(ctx));
      return { events: result.events.map((e) => e.messageFor(view.shape)), revision: BigInt(result.revision) };
    },
  };
}
