import { sql, type Selectable, type Transaction } from "kysely";
import type { Database, ProjectsTable, ProjectStateColumn } from "./schema.js";
import type { Executor } from "./schema.js";

export type ProjectRow = Selectable<ProjectsTable>;

export async function getProject(tx: Transaction<Database>, tenantId: string, name: string): Promise<ProjectRow | undefined> {
  return tx.selectFrom("projects").selectAll().where("tenant_id", "=", tenantId).where("name", "=", name).executeTakeFirst();
}

/** Creates the row or changes its state. */
export async function setProjectState(
  tx: Executor,
  tenantId: string,
  name: string,
  state: ProjectStateColumn,
  actor: string,
): Promise<ProjectRow> {
  return tx
    .insertInto("projects")
    .values({ tenant_id: tenantId, name, state, updated_by: actor })
    .onConflict((oc) =>
      oc.columns(["tenant_id", "name"]).doUpdateSet({
        state,
        updated_by: actor,
        updated_at: sql`now()`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteProject(tx: Transaction<Database>, tenantId: string, name: string): Promise<boolean> {
  const r = await tx.deleteFrom("projects").where("tenant_id", "=", tenantId).where("name", "=", name).executeTakeFirst();
  return r.numDeletedRows > 0n;
}

export async function listProjects(
  tx: Transaction<Database>,
  tenantId: string,
  opts: { limit: number; after?: string },
): Promise<ProjectRow[]> {
  let q = tx.selectFrom("projects").selectAll().where("tenant_id", "=", tenantId).orderBy("name").limit(opts.limit);
  if (opts.after !== undefined) q = q.where("name", ">", opts.after);
  return q.execute();
}

export async function countProjects(db: Executor, tenantId: string): Promise<number> {
  const r = await db
    .selectFrom("projects")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("tenant_id", "=", tenantId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The projects with these names (those that exist): what the change log's project entries point at. */
export async function projectsByNames(
  tx: Transaction<Database>,
  tenantId: string,
  names: readonly string[],
): Promise<ProjectRow[]> {
  if (names.length === 0) return [];
  return tx.selectFrom("projects").selectAll().where("tenant_id", "=", tenantId).where("name", "in", names).execute();
}
