import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { actorOf, type Caller } from "../auth/caller.js";
import type { RequestMeta } from "../store/actor.js";
import type { TenantScope, TxOrigin } from "../store/with-tenant.js";

export interface TenantRef {
  id: string;
  slug: string;
}

/** What the access interceptor established before the handler runs. */
export interface RequestContext {
  requestId: string;
  /**
   * The W3C trace id (32 hex digits): the caller's `traceparent` when it sent a valid one, else a fresh one, so
   * every log line of a call can be joined to the caller's trace. Absent on contexts built outside a request.
   */
  traceId?: string;
  /** The connection's peer address: per-source throttles and the audit trail. */
  peer: string;
  /** As the client sent it, truncated. */
  userAgent: string;
  /** The Host (or :authority) the request was sent to: the cookie rules' notion of the server's origin. */
  host?: string;
  /**
   * The token the caller presented and how (auth/browser-session-cookie.ts); absent on public RPCs. Kept for
   * what must check it again (a Watch stream's re-checks) or act on how it came (Logout clears a cookie). Never
   * logged: the request log names fields one by one (transport/request-log.ts).
   */
  credential?: { token: string; via: "bearer" | "cookie" };
  /** Absent only on public RPCs. */
  caller?: Caller;
  /** The tenant the call acts in; absent on platform and public RPCs. */
  tenant?: TenantRef;
}

export const requestContextKey = createContextKey<RequestContext>({ requestId: "", peer: "unknown", userAgent: "" });

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

/** The request as a transaction records it. */
export function requestMetaOf(ctx: HandlerContext): RequestMeta {
  const { requestId, peer, userAgent } = ctx.values.get(requestContextKey);
  return { requestId, peer, userAgent };
}

/** Who a platform RPC's transaction works for: its caller, from its request. */
export function originOf(ctx: HandlerContext): TxOrigin {
  return { actor: actorOf(callerOf(ctx)), request: requestMetaOf(ctx), signal: ctx.signal };
}

/** A tenant-scoped RPC's transaction scope: its tenant, caller and request. */
export function scopeOf(ctx: HandlerContext): TenantScope {
  const { tenant } = tenantScope(ctx);
  return { tenantId: tenant.id, ...originOf(ctx) };
}
