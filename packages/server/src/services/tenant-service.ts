import type { ServiceImpl } from "@connectrpc/connect";
import { TenantService } from "@engine-cloud/api";
import { alreadyExists, failedPrecondition, notFound } from "../errors/domain-error.js";
import type { Limiter } from "../limits/limiter.js";
import { overridesOf, type LimitsOf, type TenantLimits } from "../limits/tenant-limits.js";
import { countLiveCredentials } from "../store/credentials.js";
import type { TenantStateColumn } from "../store/schema.js";
import { changeTenantLimits, findTenant, insertTenant, listTenants, updateTenant, type TenantRow } from "../store/tenants.js";
import { revokeTenantTokens } from "../store/tokens.js";
import { tenantScope } from "../tenancy/request-context.js";
import { withTenant } from "../tenancy/with-tenant.js";
import type { ServiceDeps } from "./deps.js";
import { decodeIdPageToken, pageSizeOf, splitPage } from "./page-token.js";
import { tenantLimitsFromProto, tenantLimitsToProto, tenantToProto } from "./to-proto.js";

export interface TenantServiceDeps extends ServiceDeps {
  limiter: Pick<Limiter, "streamUsage">;
  limitsOf: LimitsOf;
  defaultLimits: TenantLimits;
}

/**
 * Platform RPCs: the tenants table itself is not tenant-owned, so these run on
 * the owner connection. Every state change is announced on the change feed,
 * which is what makes a suspension bite on the next request everywhere.
 */
export function createTenantService(deps: TenantServiceDeps): ServiceImpl<typeof TenantService> {
  const { db, feed } = deps;

  const limitSettings = async (row: TenantRow) => ({
    tenantId: row.id,
    effective: tenantLimitsToProto(await deps.limitsOf(row.id)),
    defaults: tenantLimitsToProto(deps.defaultLimits),
    overrides: tenantLimitsToProto(overridesOf(row.limits)),
  });

  const mustFind = async (idOrSlug: string): Promise<TenantRow> => {
    const t = await findTenant(db, idOrSlug);
    if (!t) throw notFound("TENANT_NOT_FOUND", `no tenant "${idOrSlug}"; list them with: engine-cloud tenant list`);
    return t;
  };

  const changeState = async (idOrSlug: string, to: TenantStateColumn): Promise<TenantRow> => {
    const t = await mustFind(idOrSlug);
    if (t.is_operator) {
      throw failedPrecondition("TENANT_PROTECTED", "the operator tenant holds the platform admin tokens and cannot be suspended or deleted");
    }
    if (t.state === "deleted") throw failedPrecondition("TENANT_DELETED", `tenant "${t.slug}" is deleted and cannot change state`);
    const updated = await updateTenant(db, t.id, { state: to });
    await feed.publishConfirmed({ type: "tenant", tenantId: t.id });
    return updated;
  };

  return {
    async createTenant(req) {
      const row = await insertTenant(db, { slug: req.slug, displayName: req.displayName || req.slug });
      if (!row) throw alreadyExists("TENANT_EXISTS", `the slug "${req.slug}" is taken; pick another`);
      // Confirmed: servers cache "no such tenant" for names asked before, and it must not outlive the creation.
      await feed.publishConfirmed({ type: "tenant", tenantId: row.id });
      return { tenant: tenantToProto(row) };
    },
    async getTenant(req) {
      return { tenant: tenantToProto(await mustFind(req.tenant)) };
    },
    async listTenants(req) {
      const size = pageSizeOf(req.pageSize);
      const afterId = decodeIdPageToken(req.pageToken);
      const rows = await listTenants(db, { limit: size + 1, afterId, showDeleted: req.showDeleted });
      const { page, next } = splitPage(rows, size, (t) => ({ id: t.id }));
      return { tenants: page.map(tenantToProto), nextPageToken: next };
    },
    async updateTenant(req) {
      const t = await mustFind(req.tenant);
      const updated = await updateTenant(db, t.id, { displayName: req.displayName });
      await feed.publishConfirmed({ type: "tenant", tenantId: t.id });
      return { tenant: tenantToProto(updated) };
    },
    async suspendTenant(req) {
      return { tenant: tenantToProto(await changeState(req.tenant, "suspended")) };
    },
    async resumeTenant(req) {
      return { tenant: tenantToProto(await changeState(req.tenant, "active")) };
    },
    async deleteTenant(req) {
      const deleted = await changeState(req.tenant, "deleted");
      // The tenant state already refuses its tokens; revoking them too keeps
      // them dead should anyone ever restore the row. Destroying the data key
      // makes every sealed secret of the tenant unreadable, backups included.
      await withTenant(db, deleted.id, async (tx) => {
        await revokeTenantTokens(tx, deleted.id);
        await deps.keys.destroy(tx, deleted.id);
      });
      return { tenant: tenantToProto(deleted) };
    },
    async getTenantLimits(_req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const streams = deps.limiter.streamUsage(caller, tenant.id);
      const credentials = await withTenant(db, tenant.id, (tx) => countLiveCredentials(tx, tenant.id));
      return {
        settings: await limitSettings(await mustFind(tenant.id)),
        usage: {
          tokenStreams: streams.tokenStreams,
          tenantStreams: streams.tenantStreams,
          tenantCredentials: credentials,
          tenantConnections: 0,
        },
      };
    },
    async setTenantLimits(req) {
      const t = await mustFind(req.tenant);
      const change = { set: {} as Record<string, number>, clear: [] as string[] };
      for (const [name, value] of Object.entries(tenantLimitsFromProto(req.overrides!))) {
        if (value === 0) change.clear.push(name);
        else change.set[name] = value;
      }
      const updated = await changeTenantLimits(db, t.id, change);
      // Confirmed, as a suspension is: every server's cached tenant row is dropped before this returns.
      await feed.publishConfirmed({ type: "tenant", tenantId: t.id });
      return { settings: await limitSettings(updated) };
    },
  };
}
