import { ErrorReason } from "@engine-cloud/api";
import { permissionDenied } from "../errors/domain-error.js";
import type { ProjectRow } from "../store/projects.js";

export type ProjectDecision =
  | { allowed: true }
  | {
      allowed: false;
      reason: ErrorReason.PROJECT_UNKNOWN | ErrorReason.PROJECT_DENIED | ErrorReason.PROJECT_NOT_IN_TOKEN_SCOPE;
      message: string;
    };

/**
 * Whether a credential limited to `scope` (empty: unlimited) may sync project
 * `name`, given the tenant's policy row. Unknown projects are refused like
 * denied ones, each with its own reason, so nothing is dropped silently.
 */
export function decideProject(name: string, row: ProjectRow | undefined, scope: readonly string[]): ProjectDecision {
  if (scope.length > 0 && !scope.includes(name)) {
    return {
      allowed: false,
      reason: ErrorReason.PROJECT_NOT_IN_TOKEN_SCOPE,
      message: `this token is limited to projects ${scope.join(", ")}; "${name}" is not one of them`,
    };
  }
  if (!row) {
    return {
      allowed: false,
      reason: ErrorReason.PROJECT_UNKNOWN,
      message: `project "${name}" is not in the tenant's policy; allow the project to sync it`,
    };
  }
  if (row.state === "denied") {
    return {
      allowed: false,
      reason: ErrorReason.PROJECT_DENIED,
      message: `project "${name}" is denied by the tenant's policy; allow the project to sync it`,
    };
  }
  return { allowed: true };
}

/** The same decision as an error, for calls that act on a project. */
export function requireProjectAllowed(name: string, row: ProjectRow | undefined, scope: readonly string[]): void {
  const d = decideProject(name, row, scope);
  if (!d.allowed) throw permissionDenied(d.reason, d.message, { project: name });
}
