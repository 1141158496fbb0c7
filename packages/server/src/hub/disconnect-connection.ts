import { ErrorReason, type OAuthProvider } from "@engine-cloud/api";
import type { Kysely } from "kysely";
import { openTokenSet, type SealedTokenSet } from "../crypto/hub-secrets.js";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import { notFound } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import { actorLabel } from "../store/actor.js";
import { disconnectConnection, findConnection, type ConnectionRow } from "../store/connections.js";
import type { Database } from "../store/schema.js";
import { withTenant, type TenantScope } from "../store/with-tenant.js";
import type { CredentialVault } from "../vault/credentials.js";
import { withdrawConnectionCredential } from "./connection-credential.js";
import { providerFor, resolveOAuthApp } from "./oauth-apps.js";
import type { OutboundPolicy } from "./outbound-http.js";
import type { ProviderCatalog } from "./provider-catalog.js";
import { revokeGrantAtProvider } from "./revoke-grant.js";

export interface DisconnectDeps {
  db: Kysely<Database>;
  keys: TenantKeys;
  catalog: ProviderCatalog;
  vault: CredentialVault;
  log: Logger;
  outbound: OutboundPolicy;
}

export const connectionNotFound = (id: string) =>
  notFound(ErrorReason.CONNECTION_NOT_FOUND, `no connection ${id} in this tenant; list the connections to find the right id`);

/**
 * Disconnects: the tokens are erased in the transaction, and only after it
 * committed is the grant revoked at the provider — the HTTP call outside any
 * transaction, and a provider that is down cannot keep tokens here that the
 * admin asked to be rid of.
 */
export function createDisconnect(deps: DisconnectDeps) {
  const { db, keys, log } = deps;
  return async function disconnect(
    scope: TenantScope,
    id: string,
    signal?: AbortSignal,
  ): Promise<{ row: ConnectionRow; revoked: boolean }> {
    const tenantId = scope.tenantId;
    const { row, tokens, provider } = await withTenant(
      db,
      scope,
      async (t) => {
        const { tx, audit } = t;
        const existing = await findConnection(tx, tenantId, id, true);
        if (!existing) throw connectionNotFound(id);
        audit.record({
          action: "connection.disconnect",
          target: `connection:${existing.id}`,
          detail: { provider: existing.provider, project: existing.project, alias: existing.alias },
        });
        const tokens = existing.sealed_tokens
          ? openTokenSet(await keys.dataKey(tx, tenantId), tenantId, existing.id, existing.generation, existing.sealed_tokens)
          : undefined;
        // A custom provider whose app was deleted is unknown now: nothing to revoke at.
        const provider = await providerFor(deps.catalog, tx, tenantId, existing.provider).catch(() => undefined);
        const row = await disconnectConnection(tx, tenantId, id, actorLabel(scope.actor));
        // Runtimes get the tombstone in the same commit: no access token outlives the disconnect on the stream.
        await withdrawConnectionCredential(deps.vault, t, row);
        return { row, tokens, provider };
      },
      { signal },
    );
    const revoked = tokens && provider?.revocationUrl ? await revokeGrantAtProvider(deps, row, provider, tokens) : false;
    return { row, revoked };
  };
}

export type Disconnect = ReturnType<typeof createDisconnect>;
