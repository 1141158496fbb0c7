import type { Transaction } from "kysely";
import { actorLabel, type Actor } from "../store/actor.js";
import { recordChangeAtNextRevision } from "../store/change-log.js";
import { deleteProject, setProjectState, type ProjectRow } from "../store/projects.js";
import type { Database, ProjectStateColumn } from "../store/schema.js";

/** What a project policy write needs of its transaction (a TenantTx, or bootstrap's own). */
export interface ProjectWriteTx {
  tx: Transaction<Database>;
  tenantId: string;
  actor: Actor;
}

/**
 * A project's policy record is a resource of the change log
 * (RESOURCE_KIND_PROJECT, id = its name, seen by that project's runtimes
 * only), so every write of it takes a tenant revision, last, as credential
 * writes do (vault/credentials.ts). The caller announces it after commit (a
 * confirmed "project" event: caches drop the policy, streams of the project
 * are rechecked, and the hub reads the new log entry).
 */
export async function changeProjectState(t: ProjectWriteTx, name: string, state: ProjectStateColumn): Promise<ProjectRow> {
  const row = await setProjectState(t.tx, t.tenantId, name, state, actorLabel(t.actor));
  await recordChangeAtNextRevision(t.tx, t.tenantId, { kind: "project", resourceId: name, project: name });
  return row;
}

/** Deletes the project's record, leaving its tombstone in the change log; false if there was none. */
export async function removeProject(t: ProjectWriteTx, name: string): Promise<boolean> {
  if (!(await deleteProject(t.tx, t.tenantId, name))) return false;
  await recordChangeAtNextRevision(t.tx, t.tenantId, { kind: "project", resourceId: name, project: name, tombstone: {} });
  return true;
}
