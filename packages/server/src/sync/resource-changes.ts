import type { Logger } from "../log.js";
import { changesAfter, type ChangeRange } from "../store/change-log.js";
import { projectsByNames, type ProjectRow } from "../store/projects.js";
import type { TenantTx } from "../store/with-tenant.js";
import type { CredentialVault, OpenedCredential } from "../vault/credentials.js";

/** One entry of the change log with the resource it names, ready to be sent. */
export type ResourceChange =
  | {
      kind: "credential";
      revision: number;
      project: string;
      id: string;
      live: OpenedCredential;
      tombstone?: undefined;
    }
  | {
      kind: "credential";
      revision: number;
      project: string;
      id: string;
      live?: undefined;
      tombstone: { provider: string; alias: string };
    }
  | { kind: "project"; revision: number; project: string; id: string; record?: ProjectRow };

export interface ChangesRead {
  changes: ResourceChange[];
  /** Log entries read (changes left out included): a full batch means there may be more. */
  read: number;
  /** The revision of the last entry read, if any. */
  last?: number;
}

/**
 * The changes after `since` (undefined: the live snapshot), of every kind the
 * range names, in revision order: one range scan of the change log, then one
 * read per kind for the current rows it points at, each kind resolved by its
 * own module (credentials read and opened by the vault). Call it in a REPEATABLE READ
 * transaction, so the log and the rows are one picture.
 *
 * A credential that cannot be opened (tampered, or sealed under a key this
 * server lacks) is logged, by ids only, and left out rather than stalling
 * every stream of its tenant (live fan-out) or failing the catch-up of its
 * whole project (finding L5).
 */
export async function changesSince(
  t: Pick<TenantTx, "tx" | "tenantId">,
  vault: Pick<CredentialVault, "changed">,
  since: number | undefined,
  range: ChangeRange,
  log: Logger,
): Promise<ChangesRead> {
  const entries = await changesAfter(t.tx, t.tenantId, since, range);
  if (entries.length === 0) return { changes: [], read: 0 };
  const liveIds = (kind: string) => entries.filter((e) => e.kind === kind && !e.deleted_at).map((e) => e.resource_id);
  const credentials = await vault.changed(t, liveIds("credential"), (row, err) =>
    log.error("a credential could not be decrypted and was not sent", {
      tenant: t.tenantId,
      credential: row.id,
      revision: row.revision,
      err: String(err),
    }),
  );
  const projects = new Map((await projectsByNames(t.tx, t.tenantId, liveIds("project"))).map((r) => [r.name, r]));
  const changes: ResourceChange[] = [];
  for (const e of entries) {
    const head = { revision: Number(e.revision), project: e.project, id: e.resource_id };
    if (e.kind === "project") {
      const record = projects.get(e.resource_id);
      if (e.deleted_at) changes.push({ kind: "project", ...head });
      else if (record) changes.push({ kind: "project", ...head, record });
      continue;
    }
    if (e.deleted_at) {
      changes.push({
        kind: "credential",
        ...head,
        tombstone: { provider: e.tombstone.provider ?? "", alias: e.tombstone.alias ?? "" },
      });
      continue;
    }
    // Absent: unreadable (logged above), or, only outside REPEATABLE READ, changed since the log was read.
    const live = credentials.get(e.resource_id);
    if (live) changes.push({ kind: "credential", ...head, live });
  }
  return { changes, read: entries.length, last: Number(entries[entries.length - 1].revision) };
}
