import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Caller } from "../auth/caller.js";

export interface TenantRef {
  id: string;
  slug: string;
}

/** What the access interceptor established before the handler runs. */
export interface RequestContext {
  requestId: string;
  /** Absent only on public RPCs. */
  caller?: Caller;
  /** The tenant the call acts in; absent on platform and public RPCs. */
  tenant?: TenantRef;
}

export const requestContextKey = createContextKey<RequestContext>({ requestId: "" });

/** The caller and tenant of a tenant-scoped RPC; the interceptor guarantees both. */
export function tenantScope(ctx: HandlerContext): { caller: Caller; tenant: TenantRef } {
  const rc = ctx.values.get(requestContextKey);
  if (!rc.caller || !rc.tenant) throw new Error("tenant-scoped handler reached without a tenant context");
  return { caller: rc.caller, tenant: rc.tenant };
}

/** The caller of an authenticated or platform RPC. */
export function callerOf(ctx: HandlerContext): Caller {
  const rc = ctx.values.get(requestContextKey);
  if (!rc.caller) throw new Error("authenticated handler reached without a caller");
  return rc.caller;
}
