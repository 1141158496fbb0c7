import type { Transaction } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { tokenKindOf, type Caller } from "../auth/caller.js";
import type { Database } from "../store/schema.js";
import { permissionDenied } from "../errors/domain-error.js";
import type { ProjectDirectory } from "./project-directory.js";
import { requireProjectAllowed } from "./project-policy.js";

/**
 * Who may touch a credential of `project` ("" = tenant-wide):
 * - a credential limited to projects reads its projects' credentials and the
 *   tenant-wide ones, and writes only its projects' ones;
 * - runtimes obey the project policy, as they do for sync.
 * Administrators and unlimited service tokens manage every credential.
 */
export async function requireCredentialAccess(
  projects: ProjectDirectory,
  tx: Transaction<Database>,
  caller: Caller,
  tenantId: string,
  project: string,
  mode: "read" | "write",
): Promise<void> {
  const limited = caller.projects.length > 0;
  if (project === "") {
    if (limited && mode === "write") {
      throw permissionDenied(
        ErrorReason.PROJECT_NOT_IN_TOKEN_SCOPE,
        "a token limited to projects cannot change tenant-wide credentials",
      );
    }
    return;
  }
  if (limited && !caller.projects.includes(project)) {
    throw permissionDenied(
      ErrorReason.PROJECT_NOT_IN_TOKEN_SCOPE,
      `this token is limited to projects ${caller.projects.join(", ")}`,
      { project },
    );
  }
  if (tokenKindOf(caller) === "runtime")
    requireProjectAllowed(project, await projects.find(tenantId, project, tx), caller.projects);
}

/**
 * What a listing of the tenant's credentials may show `caller`: a credential
 * limited to projects sees those projects and the tenant-wide ones, and a
 * runtime only what it may sync, so an unfiltered list shows no names or
 * metadata of projects the policy denies or does not know (finding L4).
 */
export function credentialListingOf(caller: Caller): { scope: readonly string[]; allowedProjectsOnly: boolean } {
  return { scope: caller.projects, allowedProjectsOnly: tokenKindOf(caller) === "runtime" };
}
