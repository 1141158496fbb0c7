import type { Caller } from "../auth/caller.js";
import type { CallerResolver } from "../auth/caller-resolver.js";
import type { TenantRef } from "../tenancy/request-context.js";
import { requireSyncRead, type SyncAccessCheck } from "./sync-access.js";
import type { SyncHub, SyncWatcher } from "./sync-hub.js";
import { syncViewOf, type SyncView } from "./sync-events.js";
import { createTokenExpiry } from "./token-expiry.js";
import type { ResourceKind, RuntimeInfo } from "@engine-cloud/api";
import type { RuntimeInfoColumns } from "../store/runtime-presence.js";
import type { PresenceBuffer, PresentStream } from "./presence-buffer.js";
import { actorOf } from "../auth/caller.js";
import type { RequestMeta } from "../store/actor.js";
import type { CatchUp } from "./catch-up.js";
import type { CatchUpReader } from "./catch-up-reader.js";
import type { DeliveryAudit, StreamOrigin } from "./delivery-audit.js";

/** What a watcher is, as the hub and the re-checks see it: both Watch paths build it here. */
export interface WatchTarget {
  tenantId: string;
  project: string;
  /** The project and the kinds the request named, which decide what the stream sees and in which shape. */
  view: SyncView;
  principalId: string;
  /** Whether a token or a person's session opened the stream, and its label (token label or email), for presence. */
  principalKind: "token" | "user";
  principalLabel: string;
  bearer: string;
  since: number;
  /** When the credential stops working, if it expires: the stream ends then. */
  expiresAt?: Date;
  /** The request's runtime_id and RuntimeInfo, recorded as the stream's presence. */
  runtimeId: string;
  runtimeInfo: RuntimeInfoColumns;
  /** Who opened the stream and through which request: what its delivery events name. */
  origin: StreamOrigin;
}

/** The watcher fields of a Watch whose access rule and project check passed. */
export function watchTargetOf(
  scope: { caller: Caller; tenant: TenantRef },
  request: { project: string; sinceRevision: bigint; kinds: readonly ResourceKind[]; runtimeId: string; runtime?: RuntimeInfo },
  /** What the access check verified (tenancy/request-context.ts): the stream's re-checks verify it again. */
  credential: { token: string } | undefined,
  requestMeta: RequestMeta,
): WatchTarget {
  return {
    origin: { actor: actorOf(scope.caller), request: requestMeta },
    tenantId: scope.tenant.id,
    project: request.project,
    view: syncViewOf(request.project, request.kinds),
    principalId: scope.caller.principalId,
    principalKind: scope.caller.principal.kind,
    principalLabel: scope.caller.displayName,
    bearer: credential?.token ?? "",
    since: Number(request.sinceRevision),
    expiresAt: scope.caller.expiresAt,
    runtimeId: request.runtimeId,
    runtimeInfo: {
      name: request.runtime?.name ?? "",
      version: request.runtime?.version ?? "",
      host: request.runtime?.host ?? "",
      sdk: request.runtime?.sdk ?? "",
      sdk_version: request.runtime?.sdkVersion ?? "",
      language: request.runtime?.language ?? "",
    },
  };
}

/** A Watch stream of either path, as the opener sees it: a watcher of the hub whose presence is recorded. */
export type OpenedStream = SyncWatcher & PresentStream;

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
   * A stream that passes is recorded as present (sync/presence-buffer.ts) until it is closed.
   */
  open(watcher: OpenedStream, target: WatchTarget): Promise<void>;
  /**
   * The stream's catch-up from `since` (reads shared between streams that ask alike, sync/catch-up-reader.ts).
   * The first one is recorded as the stream's open delivery event before it is returned: when that event cannot
   * be written this throws the audit writer's error and the stream must end with it, having sent nothing.
   */
  catchUp(watcher: OpenedStream, since: number): Promise<CatchUp>;
  /** Detaches the watcher from the hub and the expiry clock and records its end; safe to call twice. */
  close(watcher: OpenedStream): void;
}

export function createWatchOpener(deps: {
  hub: SyncHub;
  verifier: CallerResolver;
  requireSyncAccess: SyncAccessCheck;
  presence: Pick<PresenceBuffer, "opened" | "ended">;
  readCatchUp: CatchUpReader;
  deliveries: DeliveryAudit;
}): WatchOpener {
  // One heap and one timer for every stream of the process, on both paths.
  const expiry = createTokenExpiry();
  // A stream can close (its client gone) while its open is still re-checking: it must not then be listed as present.
  const closedStreams = new WeakSet<OpenedStream>();
  const close = (watcher: OpenedStream) => {
    closedStreams.add(watcher);
    expiry.untrack(watcher);
    deps.hub.remove(watcher);
    deps.presence.ended(watcher);
    deps.deliveries.untrack(watcher);
  };
  return {
    async open(watcher, target) {
      if (target.expiresAt) expiry.track(watcher, target.expiresAt);
      deps.deliveries.track(watcher, target.origin);
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
      if (!closedStreams.has(watcher)) deps.presence.opened(watcher, target);
    },
    async catchUp(watcher, since) {
      const result = await deps.readCatchUp(watcher.tenantId, watcher.view, since);
      await deps.deliveries.caughtUp(watcher, since, result);
      return result;
    },
    close,
  };
}
