import { randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { CredentialService, DEFAULT_ALIAS, ErrorReason, type PutCredentialRequest } from "@engine-cloud/api";
import { actorLabelOf, type Caller } from "../auth/caller.js";
import { openSecrets, sealSecrets } from "../crypto/credential-secrets.js";
import { DomainError, invalidArgument, notFound } from "../errors/domain-error.js";
import type { LimitsOf } from "../limits/tenant-limits.js";
import {
  countLiveCredentials,
  findCredentialById,
  findLiveCredential,
  listCredentials,
  tombstoneCredential,
  writeCredential,
  type CredentialRow,
} from "../store/credentials.js";
import type { Database, KeyInfo } from "../store/schema.js";
import { checkCredentialAccess, credentialListingOf } from "../tenancy/credential-access.js";
import { scopeOf, tenantScope, type TenantRef } from "../tenancy/request-context.js";
import { nextTenantRevision } from "../store/tenant-revisions.js";
import { withTenant } from "../store/with-tenant.js";
import type { Transaction } from "kysely";
import type { ServiceDeps } from "./deps.js";
import { decodePageToken, pageSizeOf, splitPage } from "./page-token.js";
import { credentialToProto, credentialTypes } from "../messages/credentials.js";

/** Bounds the sealed size of one credential (all key values together). */
const MAX_SECRET_BYTES = 64 * 1024;

const versionConflict = (stored: number, expected: bigint) =>
  new DomainError(
    "aborted",
    ErrorReason.VERSION_CONFLICT,
    `the credential is at version ${stored}, not ${expected}; read it again and retry`,
    { version: String(stored) },
  );

const credentialNotFound = (what: string) =>
  notFound(ErrorReason.CREDENTIAL_NOT_FOUND, `no credential ${what} in this tenant; list the credentials to find the right one`);

function secretsOf(req: PutCredentialRequest): { values: Record<string, string>; info: KeyInfo } {
  const values: Record<string, string> = {};
  const info: KeyInfo = {};
  let size = 0;
  for (const [name, key] of Object.entries(req.keys)) {
    values[name] = key.value;
    size += Buffer.byteLength(name) + Buffer.byteLength(key.value);
    info[name] = key.expiresAt ? { expires_at: timestampDate(key.expiresAt).toISOString() } : {};
  }
  if (size > MAX_SECRET_BYTES) throw invalidArgument("keys", `the key values add up to ${size} bytes; at most ${MAX_SECRET_BYTES}`);
  return { values, info };
}

/** No retry hint: only deleting a credential (or a higher limit) makes room. */
const credentialQuota = (limit: number) =>
  new DomainError(
    "resource_exhausted",
    ErrorReason.CREDENTIAL_QUOTA,
    `this tenant may store ${limit} credentials (tenant_credentials); delete one, or ask a platform administrator for more`,
    { limit: "tenant_credentials", value: String(limit) },
  );

export function createCredentialService(deps: ServiceDeps & { limitsOf: LimitsOf }): ServiceImpl<typeof CredentialService> {
  const { db, keys, feed } = deps;

  /** Reads a live credential the caller may see, with its secrets opened. */
  const readable = async (tx: Transaction<Database>, caller: Caller, tenant: TenantRef, row: CredentialRow | undefined, what: string) => {
    if (!row) throw credentialNotFound(what);
    await checkCredentialAccess(deps.projects, tx, caller, tenant.id, row.project, "read");
    return row;
  };

  return {
    async putCredential(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const name = { project: req.project, provider: req.provider, alias: req.alias || DEFAULT_ALIAS };
      const { values, info } = secretsOf(req);
      // Read before the transaction: the tenant directory must not wait for a connection this call holds.
      const quota = (await deps.limitsOf(tenant.id)).tenant_credentials;
      const { row, secrets } = await withTenant(db, scopeOf(ctx), async ({ tx, afterCommit }) => {
        await checkCredentialAccess(deps.projects, tx, caller, tenant.id, name.project, "write");
        const existing = await findLiveCredential(tx, tenant.id, name, true);
        if (req.expectedVersion !== undefined && BigInt(existing?.version ?? 0) !== req.expectedVersion) {
          throw versionConflict(existing?.version ?? 0, req.expectedVersion);
        }
        const id = existing?.id ?? randomUUID();
        const version = (existing?.version ?? 0) + 1;
        const dataKey = await keys.dataKey(tx, tenant.id);
        // Last: from here to commit this transaction holds the tenant's revision lock.
        const revision = await nextTenantRevision(tx, tenant.id);
        // Counted under the revision lock, so concurrent creations cannot all squeeze into the last place.
        if (!existing && (await countLiveCredentials(tx, tenant.id)) >= quota) throw credentialQuota(quota);
        const written = await writeCredential(tx, tenant.id, {
          ...name,
          id,
          type: credentialTypes.fromProto(req.type),
          identity: req.identity,
          metadata: req.metadata,
          scopes: req.scopes,
          keyInfo: info,
          sealedKeys: sealSecrets(dataKey, tenant.id, id, version, values),
          autoRefresh: req.autoRefresh,
          version,
          revision,
          actor: actorLabelOf(caller),
        });
        afterCommit(() => feed.publish({ type: "credential", tenantId: tenant.id, revision }));
        return { row: written, secrets: values };
      }, { signal: ctx.signal });
      return { credential: credentialToProto(row, secrets) };
    },

    async getCredential(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      return withTenant(db, scopeOf(ctx), async ({ tx }) => {
        const row = req.id
          ? await readable(tx, caller, tenant, await findCredentialById(tx, tenant.id, req.id), req.id)
          : await readable(
              tx,
              caller,
              tenant,
              await findLiveCredential(tx, tenant.id, { project: req.project, provider: req.provider, alias: req.alias || DEFAULT_ALIAS }),
              `${req.provider}/${req.alias || DEFAULT_ALIAS}${req.project ? ` in project ${req.project}` : ""}`,
            );
        const dataKey = await keys.dataKey(tx, tenant.id);
        return { credential: credentialToProto(row, openSecrets(dataKey, tenant.id, row.id, row.version, row.sealed_keys!)) };
      });
    },

    async listCredentials(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<{ provider: string; alias: string; project: string; id: string }>(req.pageToken, {
        provider: "text",
        alias: "text",
        project: "text",
        id: "uuid",
      });
      const rows = await withTenant(db, scopeOf(ctx), async ({ tx }) => {
        if (req.project) await checkCredentialAccess(deps.projects, tx, caller, tenant.id, req.project, "read");
        return listCredentials(tx, tenant.id, {
          limit: size + 1,
          after,
          visibleTo: req.project || undefined,
          provider: req.provider || undefined,
          ...credentialListingOf(caller),
        });
      });
      const { page, next } = splitPage(rows, size, (c) => ({ provider: c.provider, alias: c.alias, project: c.project, id: c.id }));
      return { credentials: page.map((r) => credentialToProto(r)), nextPageToken: next };
    },

    async deleteCredential(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const revision = await withTenant(db, scopeOf(ctx), async ({ tx, afterCommit }) => {
        const row = await findCredentialById(tx, tenant.id, req.id, true);
        if (!row) throw credentialNotFound(req.id);
        await checkCredentialAccess(deps.projects, tx, caller, tenant.id, row.project, "write");
        if (req.expectedVersion !== undefined && BigInt(row.version) !== req.expectedVersion) {
          throw versionConflict(row.version, req.expectedVersion);
        }
        const next = await nextTenantRevision(tx, tenant.id);
        await tombstoneCredential(tx, tenant.id, row, next, actorLabelOf(caller));
        afterCommit(() => feed.publish({ type: "credential", tenantId: tenant.id, revision: next }));
        return next;
      }, { signal: ctx.signal });
      return { revision: BigInt(revision) };
    },
  };
}
