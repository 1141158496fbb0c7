import { ErrorReason, SyncService } from "@engine-cloud/api";
import type { Caller } from "../auth/caller.js";
import type { Permission } from "../auth/permissions.js";
import { accessRuleOf } from "../tenancy/access-rules.js";
import { permissionDenied } from "../errors/domain-error.js";
import type { ProjectDirectory } from "../tenancy/project-directory.js";
import { requireProjectAllowed } from "../tenancy/project-policy.js";
import type { TenantRef } from "../tenancy/request-context.js";

/** Throws unless the caller may sync `project`. */
export type SyncAccessCheck = (scope: { caller: Caller; tenant: Pick<TenantRef, "id"> }, project: string) => Promise<void>;

/**
 * Sync obeys the tenant's project policy for every caller: unknown and denied
 * projects are refused, as are projects outside the token's scope. Both Watch
 * paths (services/sync-service.ts and transport/sync-fast-path.ts) and Pull
 * run this check after the RPC's access rule has passed. Streams of one
 * project arriving together (a reconnect storm) share one policy read, and
 * later ones none (the directory caches it).
 */
export function createSyncAccessCheck(projects: ProjectDirectory): SyncAccessCheck {
  return async (scope, project) => {
    requireProjectAllowed(project, await projects.find(scope.tenant.id, project), scope.caller.projects);
  };
}

/** The permission Watch declares in the proto: one source for the access check and the re-checks of open streams. */
const WATCH_RULE = accessRuleOf(SyncService.method.watch);
if (WATCH_RULE.kind !== "permission") throw new Error("SyncService/Watch must declare a permission");
const WATCH_PERMISSION: Permission = WATCH_RULE.permission;

/**
 * Throws unless the caller still holds the permission Watch requires: the
 * checks of a stream after its access rule passed (a person whose role was
 * lowered may have lost the right to watch at all).
 */
export function requireSyncRead(caller: Caller): void {
  if (!caller.permissions.has(WATCH_PERMISSION)) {
    throw permissionDenied(
      ErrorReason.PERMISSION_DENIED,
      `this credential no longer holds the permission "${WATCH_PERMISSION}"`,
      {
        permission: WATCH_PERMISSION,
      },
    );
  }
}
