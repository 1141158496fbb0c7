import type { OAuthProvider } from "@engine-cloud/api";
import type { Kysely } from "kysely";
import type { SealedTokenSet } from "../crypto/hub-secrets.js";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import type { Logger } from "../log.js";
import type { ConnectionRow } from "../store/connections.js";
import type { Database } from "../store/schema.js";
import { resolveOAuthApp } from "./oauth-apps.js";
import type { ProviderCatalog } from "./provider-catalog.js";
import type { OutboundPolicy } from "./outbound-http.js";
import { revokeToken, TokenEndpointError } from "./token-endpoint.js";
import { fillProviderUrl } from "./url-template.js";

/**
 * Revokes a grant at the provider's RFC 7009 endpoint (the caller checked it
 * has one), after the change that let go of it committed: best effort, a
 * provider that cannot be reached is logged, never a reason to keep tokens.
 * Resolves to whether the provider confirmed.
 */
export async function revokeGrantAtProvider(
  deps: { db: Kysely<Database>; keys: TenantKeys; catalog: ProviderCatalog; log: Logger; outbound: OutboundPolicy },
  row: Pick<ConnectionRow, "tenant_id" | "id" | "provider" | "url_parameters">,
  provider: OAuthProvider,
  tokens: SealedTokenSet,
): Promise<boolean> {
  try {
    const app = await resolveOAuthApp(deps.db, deps.keys, deps.catalog, row.tenant_id, row.provider);
    const url = fillProviderUrl(provider.revocationUrl, provider, row.url_parameters);
    // Revoking the refresh token ends the grant at RFC 7009 servers; the access token alone where there is none.
    const token = tokens.refresh_token
      ? { value: tokens.refresh_token, hint: "refresh_token" as const }
      : { value: tokens.access_token, hint: "access_token" as const };
    await revokeToken(url, provider, app.client, token, deps.outbound);
    return true;
  } catch (err) {
    const why = err instanceof TokenEndpointError ? err.error : "internal";
    deps.log.warn("revocation at the provider failed", {
      tenant: row.tenant_id,
      connection: row.id,
      provider: row.provider,
      error: why,
    });
    return false;
  }
}
