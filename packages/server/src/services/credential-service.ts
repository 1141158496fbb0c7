import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { CredentialService, DEFAULT_ALIAS, type PutCredentialRequest } from "@engine-cloud/api";
import type { SecretValues } from "../crypto/credential-secrets.js";
import { invalidArgument } from "../errors/domain-error.js";
import type { LimitsOf } from "../limits/tenant-limits.js";
import type { KeyInfo } from "../store/schema.js";
import { withTenant, type TenantTx } from "../store/with-tenant.js";
import { requireCredentialAccess, credentialListingOf } from "../tenancy/credential-access.js";
import { scopeOf, tenantScope } from "../tenancy/request-context.js";
import type { CredentialAccess, CredentialVault } from "../vault/credentials.js";
import type { ServiceDeps } from "./deps.js";
import { decodePageToken, pageSizeOf, splitPage } from "./page-token.js";
import { credentialToProto, credentialTypes } from "../messages/credentials.js";

/** Bounds the sealed size of one credential (all key values together). */
const MAX_SECRET_BYTES = 64 * 1024;

function secretsOf(req: PutCredentialRequest): { values: SecretValues; info: KeyInfo } {
  const values: SecretValues = {};
  const info: KeyInfo = {};
  let size = 0;
  for (const [name, key] of Object.entries(req.keys)) {
    values[name] = key.value;
    size += Buffer.byteLength(name) + Buffer.byteLength(key.value);
    info[name] = key.expiresAt ? { expires_at: timestampDate(key.expiresAt).toISOString() } : {};
  }
  if (size > MAX_SECRET_BYTES)
    throw invalidArgument("keys", `the key values add up to ${size} bytes; at most ${MAX_SECRET_BYTES}`);
  return { values, info };
}

/** Validate → call the vault (vault/credentials.ts) → map. */
export function createCredentialService(
  deps: Pick<ServiceDeps, "db" | "projects"> & { limitsOf: LimitsOf; vault: CredentialVault },
): ServiceImpl<typeof CredentialService> {
  const { db, vault } = deps;

  /** The caller's object-level check, for the vault to run once it knows the credential's project. */
  const accessOf = (ctx: HandlerContext, t: TenantTx): CredentialAccess => {
    const { caller } = tenantScope(ctx);
    return (project, mode) => requireCredentialAccess(deps.projects, t.tx, caller, t.tenantId, project, mode);
  };

  return {
    async putCredential(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const { values, info } = secretsOf(req);
      // Read before the transaction: the tenant directory must not wait for a connection this call holds.
      const quota = (await deps.limitsOf(tenant.id)).tenant_credentials;
      const input = {
        project: req.project,
        provider: req.provider,
        alias: req.alias || DEFAULT_ALIAS,
        type: credentialTypes.fromProto(req.type),
        identity: req.identity,
        metadata: req.metadata,
        scopes: req.scopes,
        secrets: values,
        keyInfo: info,
        autoRefresh: req.autoRefresh,
      };
      const { row, secrets } = await withTenant(
        db,
        scopeOf(ctx),
        (t) => vault.put(t, input, { access: accessOf(ctx, t), quota, expectedVersion: req.expectedVersion }),
        { signal: ctx.signal },
      );
      return { credential: credentialToProto(row, secrets) };
    },

    async getCredential(req, ctx) {
      const ref = req.id
        ? { id: req.id }
        : { name: { project: req.project, provider: req.provider, alias: req.alias || DEFAULT_ALIAS } };
      const { row, secrets } = await withTenant(db, scopeOf(ctx), (t) => vault.read(t, ref, accessOf(ctx, t)));
      return { credential: credentialToProto(row, secrets) };
    },

    async listCredentials(req, ctx) {
      const { caller } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<{ provider: string; alias: string; project: string; id: string }>(req.pageToken, {
        provider: "text",
        alias: "text",
        project: "text",
        id: "uuid",
      });
      const rows = await withTenant(db, scopeOf(ctx), async (t) => {
        if (req.project) await accessOf(ctx, t)(req.project, "read");
        return vault.list(t, {
          limit: size + 1,
          after,
          visibleTo: req.project || undefined,
          provider: req.provider || undefined,
          ...credentialListingOf(caller),
        });
      });
      const { page, next } = splitPage(rows, size, (c) => ({
        provider: c.provider,
        alias: c.alias,
        project: c.project,
        id: c.id,
      }));
      return { credentials: page.map((r) => credentialToProto(r)), nextPageToken: next };
    },

    async deleteCredential(req, ctx) {
      const revision = await withTenant(
        db,
        scopeOf(ctx),
        (t) => vault.remove(t, req.id, { access: accessOf(ctx, t), expectedVersion: req.expectedVersion }),
        { signal: ctx.signal },
      );
      return { revision: BigInt(revision) };
    },
  };
}
