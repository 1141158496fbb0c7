import type { ServiceImpl } from "@connectrpc/connect";
import { ConnectionService, ErrorReason } from "@engine-cloud/api";
import { notFound } from "../errors/domain-error.js";
import type { ConnectFlows } from "../hub/connect-flow.js";
import { connectionNotFound, type Disconnect } from "../hub/disconnect-connection.js";
import type { ProviderCatalog } from "../hub/provider-catalog.js";
import type { RefreshEngine } from "../hub/refresh-engine.js";
import { connectFlowToProto, connectionToProto, customProviderOf } from "../messages/connections.js";
import { findConnection, listConnections } from "../store/connections.js";
import { listCustomProviders } from "../store/oauth-apps.js";
import { findOAuthFlow } from "../store/oauth-flows.js";
import { withTenant } from "../store/with-tenant.js";
import { scopeOf, tenantScope } from "../tenancy/request-context.js";
import type { ServiceDeps } from "./deps.js";
import { decodePageToken, pageSizeOf, splitPage } from "./page-token.js";

export function createConnectionService(
  deps: Pick<ServiceDeps, "db"> & {
    catalog: ProviderCatalog;
    flows: ConnectFlows;
    disconnect: Disconnect;
    refresh: Pick<RefreshEngine, "refreshNow">;
  },
): ServiceImpl<typeof ConnectionService> {
  const { db, catalog, flows, disconnect, refresh } = deps;
  return {
    async listProviders(_req, ctx) {
      const { tenant } = tenantScope(ctx);
      const custom = await withTenant(db, scopeOf(ctx), ({ tx }) => listCustomProviders(tx, tenant.id));
      return { providers: [...catalog.list(), ...custom.map((c) => customProviderOf(c.custom_provider))] };
    },

    async startConnect(req, ctx) {
      const { authorizationUrl, flow } = await flows.start(scopeOf(ctx), req, ctx.signal);
      return { authorizationUrl, flow: connectFlowToProto(flow) };
    },

    async getConnectFlow(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const flow = await withTenant(db, scopeOf(ctx), ({ tx }) => findOAuthFlow(tx, tenant.id, req.id));
      if (!flow)
        throw notFound(
          ErrorReason.CONNECT_FLOW_NOT_FOUND,
          `no connect flow ${req.id} in this tenant; start the connection again`,
        );
      return { flow: connectFlowToProto(flow) };
    },

    async getConnection(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const row = await withTenant(db, scopeOf(ctx), ({ tx }) => findConnection(tx, tenant.id, req.id));
      if (!row) throw connectionNotFound(req.id);
      return { connection: connectionToProto(row) };
    },

    async listConnections(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<{ provider: string; alias: string; project: string; id: string }>(req.pageToken, {
        provider: "text",
        alias: "text",
        project: "text",
        id: "uuid",
      });
      const rows = await withTenant(db, scopeOf(ctx), ({ tx }) =>
        listConnections(tx, tenant.id, { limit: size + 1, after, provider: req.provider || undefined }),
      );
      const { page, next } = splitPage(rows, size, (c) => ({
        provider: c.provider,
        alias: c.alias,
        project: c.project,
        id: c.id,
      }));
      return { connections: page.map(connectionToProto), nextPageToken: next };
    },

    async disconnectConnection(req, ctx) {
      const { row, revoked } = await disconnect(scopeOf(ctx), req.id, ctx.signal);
      return { connection: connectionToProto(row), revokedAtProvider: revoked };
    },

    async refreshConnection(req, ctx) {
      const { tenant } = tenantScope(ctx);
      // Found in the caller's tenant first: another tenant's id is NOT_FOUND, like every read.
      // The request is recorded with the lookup (a refresh nobody may audit does not start); what the refresh
      // brought is the hub's own event (credential.put by system:oauth-refresh).
      const row = await withTenant(db, scopeOf(ctx), async ({ tx, audit }) => {
        const found = await findConnection(tx, tenant.id, req.id);
        if (!found) throw connectionNotFound(req.id);
        audit.record({
          action: "connection.refresh",
          target: `connection:${found.id}`,
          detail: { provider: found.provider, project: found.project, alias: found.alias, generation: found.generation },
        });
        return found;
      });
      const outcome = await refresh.refreshNow(tenant.id, row.id, { cooldown: false });
      return { connection: connectionToProto(outcome.row) };
    },
  };
}
