import { ErrorReason, type OAuthProvider } from "@engine-cloud/api";
import type { Kysely } from "kysely";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import { openClientSecret } from "../crypto/hub-secrets.js";
import { notFound } from "../errors/domain-error.js";
import { customProviderOf } from "../messages/connections.js";
import { findOAuthApp } from "../store/oauth-apps.js";
import type { Database, Tx } from "../store/schema.js";
import { findOperatorTenant } from "../store/tenants.js";
import { systemScope, withTenant } from "../store/with-tenant.js";
import type { ProviderCatalog } from "./provider-catalog.js";
import type { ClientCredentials } from "./token-endpoint.js";

/** The app a tenant connects a provider with: its own, else the operator tenant's shared one. */
export interface ResolvedApp {
  provider: OAuthProvider;
  client: ClientCredentials;
  /** Scopes the app asks for instead of the provider's defaults; empty for the defaults. */
  scopes: string[];
  shared: boolean;
}

const providerUnknown = (id: string) =>
  notFound(
    ErrorReason.PROVIDER_UNKNOWN,
    `no provider "${id}" in the catalog or among this tenant's custom providers; list the providers to find the right id`,
  );

/** The provider as a tenant sees it: the catalog's, or its custom one (defined by its app). */
export async function providerFor(catalog: ProviderCatalog, tx: Tx, tenantId: string, id: string): Promise<OAuthProvider> {
  const known = catalog.find(id);
  if (known) return known;
  const app = await findOAuthApp(tx, tenantId, id);
  if (!app?.custom_provider) throw providerUnknown(id);
  return customProviderOf(app.custom_provider);
}

/**
 * The tenant's own app for a provider, its client secret opened, inside the
 * caller's tenant transaction; undefined when the tenant has none (the
 * platform's shared app may then serve: `sharedOAuthApp`).
 */
export async function ownOAuthApp(
  tx: Tx,
  keys: TenantKeys,
  catalog: ProviderCatalog,
  tenantId: string,
  providerId: string,
): Promise<ResolvedApp | undefined> {
  const app = await findOAuthApp(tx, tenantId, providerId);
  if (!app) return undefined;
  const provider = app.custom_provider ? customProviderOf(app.custom_provider) : catalog.find(providerId);
  if (!provider) throw providerUnknown(providerId);
  const secret = app.sealed_secret
    ? openClientSecret(await keys.dataKey(tx, tenantId), tenantId, app.id, app.version, app.sealed_secret)
    : undefined;
  return { provider, client: { clientId: app.client_id, clientSecret: secret }, scopes: app.scopes, shared: false };
}

/**
 * The platform's shared app for a catalog provider, in a transaction of its
 * own (it lives in the operator tenant, under that tenant's data key): none
 * is opened while the caller holds one.
 */
export async function sharedOAuthApp(
  db: Kysely<Database>,
  keys: TenantKeys,
  catalog: ProviderCatalog,
  providerId: string,
): Promise<ResolvedApp> {
  const provider = catalog.find(providerId);
  if (!provider) throw providerUnknown(providerId);
  const operator = await findOperatorTenant(db);
  const shared =
    operator &&
    (await withTenant(db, systemScope(operator.id, "system:oauth-connect"), async ({ tx }) => {
      const app = await findOAuthApp(tx, operator.id, providerId);
      if (!app?.shared) return undefined;
      const secret = app.sealed_secret
        ? openClientSecret(await keys.dataKey(tx, operator.id), operator.id, app.id, app.version, app.sealed_secret)
        : undefined;
      return { provider, client: { clientId: app.client_id, clientSecret: secret }, scopes: app.scopes, shared: true };
    }));
  if (shared) return shared;
  throw notFound(
    ErrorReason.OAUTH_APP_NOT_FOUND,
    `no OAuth app for ${providerId} in this tenant and none shared by the platform; register one at the provider, then set it for this tenant`,
  );
}

/** Finds the app with its client secret opened: the tenant's own, else the shared one, each in a short transaction. */
export async function resolveOAuthApp(
  db: Kysely<Database>,
  keys: TenantKeys,
  catalog: ProviderCatalog,
  tenantId: string,
  providerId: string,
): Promise<ResolvedApp> {
  const own = await withTenant(db, systemScope(tenantId, "system:oauth-connect"), ({ tx }) =>
    ownOAuthApp(tx, keys, catalog, tenantId, providerId),
  );
  return own ?? sharedOAuthApp(db, keys, catalog, providerId);
}
