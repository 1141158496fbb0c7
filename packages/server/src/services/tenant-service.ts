import type { ServiceImpl } from "@connectrpc/connect";
import { ErrorReason, TenantService } from "@engine-cloud/api";
import { alreadyExists, failedPrecondition, notFound } from "../errors/domain-error.js";
import type { Limiter } from "../limits/limiter.js";
import { overridesOf, type LimitsOf, type TenantLimits } from "../limits/tenant-limits.js";
import { countLiveCredentials } from "../store/credentials.js";
import type { TenantStateColumn } from "../store/schema.js";
import { changeTenantLimits, findTenant, insertTenant, listTenants, updateTenant, type TenantRow } from "../store/tenants.js";
import { revokeTenantTokens } from "../store/tokens.js";
import { originOf, scopeOf, tenantScope } from "../tenancy/request-context.js";
import { enterTenant, withPlatform, withTenant, type WriteTx } from "../store/with-tenant.js";
import type { Executor } from "../store/schema.js";
import type { ServiceDeps } from "./deps.js";
import { decodeIdPageToken, pageSizeOf, splitPage } from "./page-token.js";
import { tenantLimitsFromProto, tenantLimitsToProto, tenantToProto } from "../messages/tenants.js";

export interface TenantServiceDeps extends Pick<ServiceDeps, "db" | "feed" | "keys"> {
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

  const mustFind = async (idOrSlug: string, on: Executor = db): Promise<TenantRow> => {
    const t = await findTenant(on, idOrSlug);
    if (!t) throw notFound(ErrorReason.TENANT_NOT_FOUND, `no tenant "${idOrSlug}"; list the tenants to find the right one`);
    return t;
  };

  /** Announced confirmed once committed: every server's cached tenant row is dropped before the call returns. */
  const announce = (t: WriteTx, tenantId: string) => t.afterCommit(() => feed.publishConfirmed({ type: "tenant", tenantId }));

  const STATE_ACTIONS: Record<TenantStateColumn, string> = {
    active: "tenant.resume",
    suspended: "tenant.suspend",
    deleted: "tenant.delete",
  };

  const changeState = async (t: WriteTx, idOrSlug: string, to: TenantStateColumn): Promise<TenantRow> => {
    const row = await mustFind(idOrSlug, t.tx);
    if (row.is_operator) {
      throw failedPrecondition(
        ErrorReason.TENANT_PROTECTED,
        "the operator tenant holds the platform admin tokens and cannot be suspended or deleted",
      );
    }
    if (row.state === "deleted")
      throw failedPrecondition(ErrorReason.TENANT_DELETED, `tenant "${row.slug}" is deleted and cannot change state`);
    const updated = await updateTenant(t.tx, row.id, { state: to });
    announce(t, row.id);
    t.audit.record({ action: STATE_ACTIONS[to], target: `tenant:${row.id}`, detail: { slug: row.slug } });
    return updated;
  };

  return {
    async createTenant(req, ctx) {
      const row = await withPlatform(db, originOf(ctx), async (t) => {
        const row = await insertTenant(t.tx, { slug: req.slug, displayName: req.displayName || req.slug });
        if (!row) throw alreadyExists(ErrorReason.TENANT_EXISTS, `the slug "${req.slug}" is taken; pick another`);
        // Confirmed: servers cache "no such tenant" for names asked before, and it must not outlive the creation.
        announce(t, row.id);
        t.audit.record({ action: "tenant.create", target: `tenant:${row.id}`, detail: { slug: row.slug } });
        return row;
      });
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
    async updateTenant(req, ctx) {
      const updated = await withPlatform(db, originOf(ctx), async (t) => {
        const row = await mustFind(req.tenant, t.tx);
        announce(t, row.id);
        t.audit.record({ action: "tenant.update", target: `tenant:${row.id}`, detail: { slug: row.slug } });
        return updateTenant(t.tx, row.id, { displayName: req.displayName });
      });
      return { tenant: tenantToProto(updated) };
    },
    async suspendTenant(req, ctx) {
      return { tenant: tenantToProto(await withPlatform(db, originOf(ctx), (t) => changeState(t, req.tenant, "suspended"))) };
    },
    async resumeTenant(req, ctx) {
      return { tenant: tenantToProto(await withPlatform(db, originOf(ctx), (t) => changeState(t, req.tenant, "active"))) };
    },
    async deleteTenant(req, ctx) {
      const deleted = await withPlatform(db, originOf(ctx), async (t) => {
        const deleted = await changeState(t, req.tenant, "deleted");
        // The tenant state already refuses its tokens; revoking them too keeps
        // them dead should anyone ever restore the row. Destroying the data key
        // makes every sealed secret of the tenant unreadable, backups included.
        // All in one transaction: a tenant is never left deleted with a live key.
        await enterTenant(t.tx, deleted.id);
        await revokeTenantTokens(t.tx, deleted.id);
        await deps.keys.destroy(t.tx, deleted.id);
        return deleted;
      });
      return { tenant: tenantToProto(deleted) };
    },
    async getTenantLimits(_req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const streams = deps.limiter.streamUsage(caller, tenant.id);
      const credentials = await withTenant(db, scopeOf(ctx), ({ tx }) => countLiveCredentials(tx, tenant.id));
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
    async setTenantLimits(req, ctx) {
      const change = { set: {} as Record<string, number>, clear: [] as string[] };
      for (const [name, value] of Object.entries(tenantLimitsFromProto(req.overrides!))) {
        if (value === 0) change.clear.push(name);
        else change.set[name] = value;
      }
      const updated = await withPlatform(db, originOf(ctx), async (t) => {
        const row = await mustFind(req.tenant, t.tx);
        // Confirmed, as a suspension is: every server's cached tenant row is dropped before this returns.
        announce(t, row.id);
        t.audit.record({
          action: "tenant.set_limits",
          target: `tenant:${row.id}`,
          detail: { slug: row.slug, ...change.set, cleared: change.clear.join(",") },
        });
        return changeTenantLimits(t.tx, row.id, change);
      });
      return { settings: await limitSettings(updated) };
    },
  };
}
