import type { Caller } from "../auth/caller.js";
import { bearerOf } from "../auth/bearer.js";
import type { CallerResolver } from "../auth/caller-resolver.js";
import type { TenantRef } from "../tenancy/request-context.js";
import { requireSyncRead, type SyncAccessCheck } from "./sync-access.js";
import type { SyncHub, SyncWatcher } from "./sync-hub.js";
import { syncViewOf, type SyncView } from "./sync-events.js";
import { createTokenExpiry } from "./token-expiry.js";
import type { ResourceKind } from "@engine-cloud/api";

/** What a watcher is, as the hub and the re-checks see it: both Watch paths build it here. */
export interface WatchTarget {
  tenantId: string;
  project: string;
  /** The project and the kinds the request named, which decide what the stream sees and in which shape. */
  view: SyncView;
  principalId: string;
  bearer: string;
  since: number;
  /** When the credential stops working, if it expires: the stream ends then. */
  expiresAt?: Date;
}

/** The watcher fields of a Watch whose access rule and project check passed. */
export function watchTargetOf(
  scope: { caller: Caller; tenant: TenantRef },
  request: { project: string; sinceRevision: bigint; kinds: readonly ResourceKind[] },
  header: Headers,
): WatchTarget {
  return {
    tenantId: scope.tenant.id,
    project: request.project,
    view: syncViewOf(request.project, request.kinds),
    principalId: scope.caller.principalId,
    bearer: bearerOf(header) ?? "",
    since: Number(request.sinceRevision),
    expiresAt: scope.caller.expiresAt,
  };
}

/** Opens and closes the Watch streams of both paths (transport/sync-fast-path.ts, services/sync-service.ts). */
export interface WatchOpener {
  /**
   * Registers the watcher (built from a WatchTarget) with the token expiry clock and the hub,
   * then checks its credential and project access again. Resolves when the stream may send its
   * catch-up; throws why not, the watcher already detached.
   *
   * The order is the point (finding H1): the access rule ran when the headers arrived, maybe long
   * before the body. Revocations reach open streams only through the hub, so a stream must be in
   * the hub before the check that its first send relies on: a revocation committed before the
   * re-check fails it (the verifier's cache dropped the token on the same notification), one after
   * it reaches the registered watcher and ends it. Either way nothing is sent on a revoked credential.
   */
  open(watcher: SyncWatcher, expiresAt: Date | undefined): Promise<void>;
  /** Detaches the watcher from the hub and the expiry clock; safe to call twice. */
  close(watcher: SyncWatcher): void;
}

export function createWatchOpener(deps: {
  hub: SyncHub;
  verifier: CallerResolver;
  requireSyncAccess: SyncAccessCheck;
}): WatchOpener {
  // One heap and one timer for every stream of the process, on both paths.
  const expiry = createTokenExpiry();
  const close = (watcher: SyncWatcher) => {
    expiry.untrack(watcher);
    deps.hub.remove(watcher);
  };
  return {
    async open(watcher, expiresAt) {
      if (expiresAt) expiry.track(watcher, expiresAt);
      try {
        await deps.hub.add(watcher);
        // The verifier's cache makes this free on the usual path, the project directory's the project check.
        const caller = await deps.verifier.verify(watcher.bearer);
        requireSyncRead(caller);
        await deps.requireSyncAccess({ caller, tenant: { id: watcher.tenantId } }, watcher.project);
      } catch (err) {
        close(watcher);
        throw err;
      }
    },
    close,
  };
}
