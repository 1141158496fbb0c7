import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, SyncService } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import type { RefreshEngine } from "../hub/refresh-engine.js";
import { credentialToProto } from "../messages/credentials.js";
import { systemScope, withTenant } from "../store/with-tenant.js";
import { readCatchUp } from "../sync/catch-up.js";
import { createCatchUpReader } from "../sync/catch-up-reader.js";
import { watchTargetOf, type WatchOpener } from "../sync/open-watch.js";
import { QueuedWatcher } from "../sync/queued-watcher.js";
import type { SyncAccessCheck } from "../sync/sync-access.js";
import { syncViewOf } from "../sync/sync-events.js";
import { credentialNotFound, type CredentialAccess, type CredentialVault } from "../vault/credentials.js";
import { tenantScope } from "../tenancy/request-context.js";
import type { Logger } from "../log.js";
import type { ServiceDeps } from "./deps.js";

/** Per slow stream, events held before it falls back to a database catch-up. */
const MAX_QUEUED_EVENTS = 256;

/** Sync's visibility as an object-level check: a project sees its own credentials and the tenant-wide ones. */
const visibleTo =
  (project: string, id: string): CredentialAccess =>
  async (credentialProject) => {
    if (credentialProject !== "" && credentialProject !== project) throw credentialNotFound(id);
  };

const credentialNotRefreshable = (id: string) =>
  new DomainError(
    "failed_precondition",
    ErrorReason.CREDENTIAL_NOT_REFRESHABLE,
    `credential ${id} is not kept by the connector hub, so there is nothing to refresh; put a new value, or connect the provider through the hub`,
    { credential_id: id },
  );

/**
 * The stock handler. Binary Watch streams are normally served by the fast
 * path in front of the connect adapter (transport/sync-fast-path.ts); this one
 * serves JSON codecs, calls with a deadline, and every Pull.
 */
export function createSyncService(
  deps: ServiceDeps & {
    watches: WatchOpener;
    requireSyncAccess: SyncAccessCheck;
    log: Logger;
    vault: CredentialVault;
    refresh: Pick<RefreshEngine, "refreshNow">;
  },
): ServiceImpl<typeof SyncService> {
  const { db, vault, watches, log, refresh } = deps;
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
      const result = await readCatchUp(db, vault, tenant.id, view, Number(req.sinceRevision), log);
      return { events: result.events.map((e) => e.messageFor(view.shape)), revision: BigInt(result.revision) };
    },
    async refreshCredential(req, ctx) {
      const { tenant } = await authorizeSync(ctx, req.project);
      const scope = systemScope(tenant.id, "system:oauth-refresh");
      // What Pull would show this project: its own credentials and the tenant-wide ones; anything else is NOT_FOUND.
      const seen = (await withTenant(db, scope, (t) => vault.read(t, { id: req.id }, visibleTo(req.project, req.id)))).row;
      if (!seen.connection_link) throw credentialNotRefreshable(seen.id);
      const { refreshed } = await refresh.refreshNow(tenant.id, seen.connection_link.id, { cooldown: true });
      const { row, secrets } = await withTenant(db, scope, (t) => vault.read(t, { id: req.id }, visibleTo(req.project, req.id)));
      return { credential: credentialToProto(row, secrets), refreshed };
    },
  };
}
