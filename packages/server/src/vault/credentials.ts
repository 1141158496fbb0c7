import { randomUUID } from "node:crypto";
import { ErrorReason } from "@engine-cloud/api";
import { openSecrets, sealSecrets, type SecretValues } from "../crypto/credential-secrets.js";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import { DomainError, notFound } from "../errors/domain-error.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import { actorLabel } from "../store/actor.js";
import { recordChangeAtNextRevision } from "../store/change-log.js";
import {
  countLiveCredentials,
  credentialsByIds,
  deleteCredential,
  findCredentialById,
  findLiveCredential,
  listCredentials,
  writeCredential,
  type CredentialCursor,
  type CredentialName,
  type CredentialRow,
} from "../store/credentials.js";
import type { ConnectionLinkColumn, CredentialTypeColumn, KeyInfo } from "../store/schema.js";
import type { TenantTx } from "../store/with-tenant.js";

/** What an audit event says of a credential: its name and version, never a secret. */
const auditNameOf = (row: CredentialRow) => ({
  project: row.project,
  provider: row.provider,
  alias: row.alias,
  version: row.version,
});

/** A credential with its secrets opened. */
export interface OpenedCredential {
  row: CredentialRow;
  secrets: SecretValues;
}

/** A credential as a writer hands it over, secrets in the clear (they are sealed here). */
export interface CredentialInput extends CredentialName {
  type: CredentialTypeColumn;
  identity: Record<string, string>;
  metadata: Record<string, string>;
  scopes: string[];
  secrets: SecretValues;
  /** Key names and expiries: what a listing may show. */
  keyInfo: KeyInfo;
  autoRefresh: boolean;
  /** Only from the connector hub: the credential is its connection's, and only the hub may change it. */
  connection?: ConnectionLinkColumn;
}

/**
 * Who may touch a credential of `project`: the caller's object-level check,
 * run inside the transaction once the project is known (for an update or a
 * delete that is only after the row is read, under its lock). The vault
 * knows no callers: an RPC handler passes its caller's check
 * (tenancy/credential-access.ts); a writer that is the server itself passes
 * `systemAccess`, by name.
 */
export type CredentialAccess = (project: string, mode: "read" | "write") => Promise<void>;

/** For the system's own writers (the OAuth hub refreshing a token): no caller, so nothing to check. */
export const systemAccess: CredentialAccess = async () => {};

export type CredentialRef = { id: string } | { name: CredentialName };

export interface CredentialVault {
  /**
   * Creates the credential (version 1) or replaces the live one of that name
   * (its version + 1), sealing the secrets. `expectedVersion` (0 for "must
   * not exist") refuses with VERSION_CONFLICT if the stored one differs;
   * `quota` bounds the tenant's credentials when this creates one.
   */
  put(
    t: TenantTx,
    input: CredentialInput,
    opts: { access: CredentialAccess; quota: number; expectedVersion?: bigint },
  ): Promise<OpenedCredential>;
  /**
   * The live credential, secrets opened; CREDENTIAL_NOT_FOUND if there is none. One audit event, `action`
   * (default "credential.read"; the RPC's declared action when another reads through here, e.g. a refresh).
   */
  read(t: TenantTx, ref: CredentialRef, access: CredentialAccess, action?: string): Promise<OpenedCredential>;
  /**
   * The credential's row, under the same access check as `read`, with nothing
   * opened: no secret is returned, so nothing is audited (a caller that then
   * reads the secrets calls `read`, which records the read).
   */
  find(t: TenantTx, ref: CredentialRef, access: CredentialAccess): Promise<CredentialRow>;
  /** Live credentials without their secrets, by (provider, alias, project, id); see store/credentials.ts:listCredentials. */
  list(t: TenantTx, opts: Parameters<typeof listCredentials>[2]): Promise<CredentialRow[]>;
  /** Deletes the credential, leaving its tombstone in the change log; resolves to the delete's revision. */
  remove(t: TenantTx, id: string, opts: { access: CredentialAccess; expectedVersion?: bigint; byHub?: boolean }): Promise<number>;
  /**
   * The credentials with these ids, opened: what the change log's live entries
   * point at (catch-up, fan-out). One that cannot be opened (tampered, or
   * sealed under a key this server lacks) is handed to `unreadable` and left
   * out, so it cannot stall the rest.
   */
  changed(
    t: Pick<TenantTx, "tx" | "tenantId">,
    ids: readonly string[],
    unreadable: (row: CredentialRow, err: unknown) => void,
  ): Promise<Map<string, OpenedCredential>>;
}

export type { CredentialCursor, CredentialName, CredentialRow };

const versionConflict = (stored: number, expected: bigint) =>
  new DomainError(
    "aborted",
    ErrorReason.VERSION_CONFLICT,
    `the credential is at version ${stored}, not ${expected}; read it again and retry`,
    { version: String(stored) },
  );

export const credentialNotFound = (what: string) =>
  notFound(ErrorReason.CREDENTIAL_NOT_FOUND, `no credential ${what} in this tenant; list the credentials to find the right one`);

/** No retry hint: only deleting a credential (or a higher limit) makes room. */
const credentialQuota = (limit: number) =>
  new DomainError(
    "resource_exhausted",
    ErrorReason.CREDENTIAL_QUOTA,
    `this tenant may store ${limit} credentials (tenant_credentials); delete one, or ask a platform administrator for more`,
    { limit: "tenant_credentials", value: String(limit) },
  );

/** A hub-managed credential is the hub's alone to write: a person's put or delete would fork it from its connection. */
const managedByHub = (row: CredentialRow) =>
  new DomainError(
    "failed_precondition",
    ErrorReason.CREDENTIAL_MANAGED_BY_HUB,
    `credential ${row.id} is kept by the connector hub for connection ${row.connection_link?.id ?? ""}; refresh or disconnect the connection instead`,
    { credential_id: row.id, connection_id: row.connection_link?.id ?? "" },
  );

const describe = (ref: CredentialRef) =>
  "id" in ref ? ref.id : `${ref.name.provider}/${ref.name.alias}${ref.name.project ? ` in project ${ref.name.project}` : ""}`;

/**
 * The credential rules, in one place for every writer and reader (RPC
 * handlers, the sync catch-up and fan-out, next the OAuth hub): sealing and
 * opening with the associated data that binds secrets to their tenant,
 * credential and version; version checks; the quota; the revision taken last
 * and recorded in the change log, tombstones included; and the change-feed
 * announcement, registered after commit. Nothing else writes credentials or
 * announces their changes.
 */
export function createCredentialVault(deps: { keys: TenantKeys; feed: Pick<ChangeFeed, "publish"> }): CredentialVault {
  const { keys, feed } = deps;

  /**
   * Takes the revision and records the change (one statement, store/change-log.ts), and
   * announces it once committed. Last in every write: from here to commit the transaction
   * holds the tenant's revision lock.
   */
  const logChange = async (t: TenantTx, row: Pick<CredentialRow, "id" | "project" | "provider" | "alias">, deleted: boolean) => {
    const tombstone = deleted ? { provider: row.provider, alias: row.alias } : undefined;
    const { revision, auditHead } = await recordChangeAtNextRevision(t.tx, t.tenantId, {
      kind: "credential",
      resourceId: row.id,
      project: row.project,
      tombstone,
      // A live credential's row was written just before, at its previous revision: it takes this one here.
      stampCredential: !deleted,
      // Its event is appended to the tenant's chain at commit: the head is locked now, in this statement.
      lockAuditHead: true,
    });
    if (auditHead) t.audit.headLocked(t.tenantId, auditHead);
    t.afterCommit(() => feed.publish({ type: "credential", tenantId: t.tenantId, revision }));
    return revision;
  };

  const open = async (t: Pick<TenantTx, "tx" | "tenantId">, row: CredentialRow): Promise<OpenedCredential> => {
    if (!row.sealed_keys) throw new Error(`credential ${row.id} holds no sealed secrets`);
    const dataKey = await keys.dataKey(t.tx, t.tenantId);
    return { row, secrets: openSecrets(dataKey, t.tenantId, row.id, row.version, row.sealed_keys) };
  };

  const find = async (t: TenantTx, ref: CredentialRef, access: CredentialAccess): Promise<CredentialRow> => {
    const row =
      "id" in ref ? await findCredentialById(t.tx, t.tenantId, ref.id) : await findLiveCredential(t.tx, t.tenantId, ref.name);
    if (!row) throw credentialNotFound(describe(ref));
    await access(row.project, "read");
    return row;
  };

  return {
    async put(t, input, opts) {
      const { tx, tenantId } = t;
      const name = { project: input.project, provider: input.provider, alias: input.alias };
      await opts.access(name.project, "write");
      const existing = await findLiveCredential(tx, tenantId, name, true);
      if (existing?.connection_link && !input.connection) throw managedByHub(existing);
      if (opts.expectedVersion !== undefined && BigInt(existing?.version ?? 0) !== opts.expectedVersion) {
        throw versionConflict(existing?.version ?? 0, opts.expectedVersion);
      }
      const id = existing?.id ?? randomUUID();
      const version = (existing?.version ?? 0) + 1;
      const dataKey = await keys.dataKey(tx, tenantId);
      // The row first, at its previous revision; the revision is taken after it (logChange stamps the row), so
      // the tenant's revision lock is held only from there to commit: every write of the tenant queues on it.
      const written = await writeCredential(tx, tenantId, {
        ...name,
        id,
        type: input.type,
        identity: input.identity,
        metadata: input.metadata,
        scopes: input.scopes,
        keyInfo: input.keyInfo,
        sealedKeys: sealSecrets(dataKey, tenantId, id, version, input.secrets),
        autoRefresh: input.autoRefresh,
        connectionLink: input.connection ?? null,
        version,
        revision: existing?.revision ?? 0,
        actor: actorLabel(t.actor),
      });
      const revision = await logChange(t, { id, ...name }, false);
      const row = { ...written, revision };
      // Counted under the revision lock (this new row included), so concurrent creations cannot all squeeze into
      // the last place.
      if (!existing && (await countLiveCredentials(tx, tenantId)) > opts.quota) throw credentialQuota(opts.quota);
      t.audit.record({
        action: "credential.put",
        target: `credential:${id}`,
        detail: { ...name, version, revision, keys: Object.keys(input.secrets).sort().join(",") },
      });
      return { row, secrets: input.secrets };
    },

    async read(t, ref, access, action = "credential.read") {
      const row = await find(t, ref, access);
      t.audit.recordRead({ action, target: `credential:${row.id}`, detail: auditNameOf(row) });
      return open(t, row);
    },

    find,

    list: (t, opts) => listCredentials(t.tx, t.tenantId, opts),

    async remove(t, id, opts) {
      const row = await findCredentialById(t.tx, t.tenantId, id, true);
      if (!row) throw credentialNotFound(id);
      await opts.access(row.project, "write");
      if (row.connection_link && !opts.byHub) throw managedByHub(row);
      if (opts.expectedVersion !== undefined && BigInt(row.version) !== opts.expectedVersion)
        throw versionConflict(row.version, opts.expectedVersion);
      await deleteCredential(t.tx, t.tenantId, row.id);
      const revision = await logChange(t, row, true);
      t.audit.record({ action: "credential.delete", target: `credential:${row.id}`, detail: { ...auditNameOf(row), revision } });
      return revision;
    },

    async changed(t, ids, unreadable) {
      const opened = new Map<string, OpenedCredential>();
      for (const row of await credentialsByIds(t.tx, t.tenantId, ids)) {
        try {
          opened.set(row.id, await open(t, row));
        } catch (err) {
          unreadable(row, err);
        }
      }
      return opened;
    },
  };
}
