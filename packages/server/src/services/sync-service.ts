import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, SyncService } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import { connectionNeedsReauth, type RefreshEngine } from "../hub/refresh-engine.js";
import type { ConnectionRow } from "../store/connections.js";
import { credentialToProto } from "../messages/credentials.js";
import { withTenant } from "../store/with-tenant.js";
import { readCatchUp } from "../sync/catch-up.js";
import { watchTargetOf, type WatchOpener } from "../sync/open-watch.js";
import { QueuedWatcher } from "../sync/queued-watcher.js";
import type { SyncAccessCheck } from "../sync/sync-access.js";
import { syncViewOf } from "../sync/sync-events.js";
import { credentialNotFound, type CredentialAccess, type CredentialVault } from "../vault/credentials.js";
import { originOf, requestContextKey, requestMetaOf, tenantScope } from "../tenancy/request-context.js";
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

/** A forced refresh the provider refused: what the runtime can do about it, by the connection's new state. */
function refreshFailure(row: ConnectionRow, publicUrl: string): DomainError {
  if (row.status === "needs_reauth") return connectionNeedsReauth(row, publicUrl);
  const meta = { connection_id: row.id };
  if (row.status_reason === "invalid_client" || row.status_reason === "unauthorized_client")
    return new DomainError(
      "failed_precondition",
      ErrorReason.OAUTH_APP_REJECTED,
      `the provider rejected the OAuth app of connection ${row.id} (${row.status_reason}); its client id or secret must be set again`,
      meta,
    );
  const waitMs = Math.max(1000, (row.next_refresh_at?.getTime() ?? Date.now()) - Date.now());
  return new DomainError(
    "unavailable",
    ErrorReason.PROVIDER_UNAVAILABLE,
    `the provider could not refresh connection ${row.id} (${row.status_reason}); the hub retries on its own`,
    { ...meta, retry_after_ms: String(Math.ceil(waitMs)) },
  );
}

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
    publicUrl(): string;
  },
): ServiceImpl<typeof SyncService> {
  const { db, vault, watches, log, refresh, publicUrl } = deps;
  const { requireSyncAccess } = deps;

  const authorizeSync = async (ctx: HandlerContext, project: string) => {
    const scope = tenantScope(ctx);
    await requireSyncAccess(scope, project);
    return scope;
  };

  return {
    async *watch(req, ctx) {
      const scope = await authorizeSync(ctx, req.project);
      const target = watchTargetOf(scope, req, ctx.values.get(requestContextKey).credential, requestMetaOf(ctx));
      const watcher = new QueuedWatcher(target, MAX_QUEUED_EVENTS);
      await watches.open(watcher, target);
      try {
        yield* watcher.stream((since) => watches.catchUp(watcher, since), ctx.signal);
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
    async refreshCredential(req, ctx) {
      const { tenant } = await authorizeSync(ctx, req.project);
      // The runtime is the actor of the read it is handed (one credential.refresh event, at the end); the refresh itself is
      // the hub's (system:oauth-refresh). What Pull would show this project is visible, anything else NOT_FOUND.
      const scope = { tenantId: tenant.id, ...originOf(ctx) };
      const seen = await withTenant(db, scope, (t) => vault.find(t, { id: req.id }, visibleTo(req.project, req.id)));
      if (!seen.connection_link) throw credentialNotRefreshable(seen.id);
      const outcome = await refresh.refreshNow(tenant.id, seen.connection_link.id, { cooldown: true });
      if (outcome.failed) throw refreshFailure(outcome.row, publicUrl());
      const { row, secrets } = await withTenant(db, scope, (t) =>
        vault.read(t, { id: req.id }, visibleTo(req.project, req.id), "credential.refresh"),
      );
      return { credential: credentialToProto(row, secrets), refreshed: outcome.refreshed };
    },
  };
}
