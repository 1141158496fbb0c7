import { randomUUID } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, OAuthAppService } from "@engine-cloud/api";
import { actorLabelOf } from "../auth/caller.js";
import { sealClientSecret } from "../crypto/hub-secrets.js";
import { failedPrecondition, invalidArgument, notFound } from "../errors/domain-error.js";
import type { ProviderCatalog } from "../hub/provider-catalog.js";
import { customProviderColumn, oauthAppToProto } from "../messages/connections.js";
import { deleteOAuthApp, findOAuthApp, listOAuthApps, writeOAuthApp } from "../store/oauth-apps.js";
import { findOperatorTenant } from "../store/tenants.js";
import { retryConnectionsOfApp } from "../store/connection-refresh.js";
import { systemScope, withPlatform, withTenant } from "../store/with-tenant.js";
import { originOf, scopeOf, tenantScope } from "../tenancy/request-context.js";
import type { ServiceDeps } from "./deps.js";

export function createOAuthAppService(
  deps: Pick<ServiceDeps, "db" | "keys"> & { catalog: ProviderCatalog },
): ServiceImpl<typeof OAuthAppService> {
  const { db, keys, catalog } = deps;
  return {
    async setOAuthApp(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const inCatalog = catalog.find(req.provider) !== undefined;
      if (inCatalog && req.customProvider) {
        throw invalidArgument("custom_provider", `${req.provider} is in the catalog; a custom provider needs an id of its own`);
      }
      if (!inCatalog && !req.customProvider) {
        throw notFound(
          ErrorReason.PROVIDER_UNKNOWN,
          `${req.provider} is not in the catalog; a custom provider needs its definition (custom_provider: authorize and token URLs)`,
        );
      }
      if (req.customProvider && req.customProvider.id !== req.provider) {
        throw invalidArgument("custom_provider.id", `the custom provider's id must be "${req.provider}"`);
      }
      if (req.shared) {
        if (req.customProvider) throw invalidArgument("shared", "only catalog providers' apps can be shared");
        const operator = await findOperatorTenant(db);
        if (operator?.id !== tenant.id) {
          throw failedPrecondition(
            ErrorReason.SHARED_APP_NOT_OPERATOR,
            "only the operator tenant may share an app with every tenant",
          );
        }
      }
      const row = await withTenant(
        db,
        scopeOf(ctx),
        async ({ tx, audit }) => {
          const existing = await findOAuthApp(tx, tenant.id, req.provider, true);
          const id = existing?.id ?? randomUUID();
          const version = (existing?.version ?? 0) + 1;
          const sealed = req.clientSecret
            ? sealClientSecret(await keys.dataKey(tx, tenant.id), tenant.id, id, version, req.clientSecret)
            : null;
          audit.record({
            action: "oauth_app.set",
            target: `oauth_app:${id}`,
            detail: { provider: req.provider, client_id: req.clientId, version, shared: req.shared, secret_set: sealed !== null },
          });
          // Connections the provider refused for the app's sake are due now: a fixed app brings them back at once.
          await retryConnectionsOfApp(tx, { tenantId: tenant.id, provider: req.provider, sharedApp: false });
          return writeOAuthApp(tx, tenant.id, {
            id,
            provider: req.provider,
            clientId: req.clientId,
            sealedSecret: sealed,
            scopes: req.scopes,
            shared: req.shared,
            customProvider: req.customProvider ? customProviderColumn(req.customProvider) : null,
            version,
            actor: actorLabelOf(caller),
          });
        },
        { signal: ctx.signal },
      );
      // The platform's shared app: the same for every tenant's connections made with it (owner connection).
      if (req.shared) {
        await withPlatform(db, originOf(ctx), ({ tx }) => retryConnectionsOfApp(tx, { provider: req.provider, sharedApp: true }));
      }
      return { app: oauthAppToProto(row) };
    },

    async listOAuthApps(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const own = await withTenant(db, scopeOf(ctx), ({ tx }) =>
        listOAuthApps(tx, tenant.id, { provider: req.provider || undefined }),
      );
      const operator = await findOperatorTenant(db);
      const shared =
        operator && operator.id !== tenant.id
          ? await withTenant(db, systemScope(operator.id, "system:oauth-connect"), ({ tx }) =>
              listOAuthApps(tx, operator.id, { provider: req.provider || undefined, sharedOnly: true }),
            )
          : [];
      const mine = new Set(own.map((a) => a.provider));
      // A tenant's own app wins over a shared one for the same provider, as connecting does.
      const apps = [...own, ...shared.filter((a) => !mine.has(a.provider))].sort((a, b) => a.provider.localeCompare(b.provider));
      // A shared app is the operator tenant's: who there changed it is not this tenant's business.
      return {
        apps: apps.map((a) => (a.tenant_id === tenant.id ? oauthAppToProto(a) : { ...oauthAppToProto(a), updatedBy: "" })),
      };
    },

    async deleteOAuthApp(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const deleted = await withTenant(
        db,
        scopeOf(ctx),
        async ({ tx, audit }) => {
          const done = await deleteOAuthApp(tx, tenant.id, req.provider);
          if (done)
            audit.record({ action: "oauth_app.delete", target: `oauth_app:${req.provider}`, detail: { provider: req.provider } });
          return done;
        },
        { signal: ctx.signal },
      );
      return { deleted };
    },
  };
}
