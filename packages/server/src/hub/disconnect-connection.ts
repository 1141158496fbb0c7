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
import { providerFor, resolveOAuthApp } from "./oauth-apps.js";
import type { OutboundPolicy } from "./outbound-http.js";
import { revokeToken, TokenEndpointError } from "./token-endpoint.js";
import { fillProviderUrl } from "./url-template.js";

export interface DisconnectDeps {
  db: Kysely<Database>;
  keys: TenantKeys;
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
      async ({ tx, audit }) => {
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
        const provider = await providerFor(tx, tenantId, existing.provider).catch(() => undefined);
        return { row: await disconnectConnection(tx, tenantId, id, actorLabel(scope.actor)), tokens, provider };
      },
      { signal },
    );
    const revoked = tokens && provider?.revocationUrl ? await revokeAtProvider(row, provider, tokens) : false;
    return { row, revoked };
  };

  async function revokeAtProvider(row: ConnectionRow, provider: OAuthProvider, tokens: SealedTokenSet): Promise<boolean> {
    try {
      const app = await resolveOAuthApp(db, keys, row.tenant_id, row.provider);
      const url = fillProviderUrl(provider.revocationUrl, provider, row.url_parameters);
      // Revoking the refresh token ends the grant at RFC 7009 servers; the access token alone where there is none.
      const token = tokens.refresh_token
        ? { value: tokens.refresh_token, hint: "refresh_token" as const }
        : { value: tokens.access_token, hint: "access_token" as const };
      await revokeToken(url, provider, app.client, token, deps.outbound);
      return true;
    } catch (err) {
      const why = err instanceof TokenEndpointError ? err.error : "internal";
      log.warn("revocation at the provider failed", {
        tenant: row.tenant_id,
        connection: row.id,
        provider: row.provider,
        error: why,
      });
      return false;
    }
  }
}

export type Disconnect = ReturnType<typeof createDisconnect>;
