import type { Interceptor } from "@connectrpc/connect";
import type { BrowserSessions } from "../auth/browser-session-cookie.js";
import type { Caller } from "../auth/caller.js";
import type { CallerResolver } from "../auth/caller-resolver.js";
import { notFound, permissionDenied } from "../errors/domain-error.js";
import { ErrorReason, TENANT_HEADER } from "@engine-cloud/api";
import type { Limiter } from "../limits/limiter.js";
import type { AccessRule } from "./access-rules.js";
import { requestContextKey, type RequestContext, type TenantRef } from "./request-context.js";
import type { TenantDirectory } from "./tenant-directory.js";

/**
 * The tenant comes from the credential, never from the request body. Only a
 * platform administrator may name another tenant, in the `engine-tenant`
 * header; a tenant-bound credential naming any tenant but its own is refused
 * without saying whether that tenant exists.
 */
async function resolveTenant(caller: Caller, named: string | null, directory: TenantDirectory): Promise<TenantRef> {
  const home = { id: caller.homeTenantId, slug: caller.homeTenantSlug };
  if (!named || named === home.id || named === home.slug) return home;
  if (!caller.platformAdmin) {
    throw permissionDenied(ErrorReason.PERMISSION_DENIED, "this credential belongs to another tenant", { header: TENANT_HEADER });
  }
  const tenant = await directory.find(named);
  if (!tenant || tenant.state === "deleted") {
    throw notFound(ErrorReason.TENANT_NOT_FOUND, `no tenant "${named}"; list the tenants to find the right one`);
  }
  return { id: tenant.id, slug: tenant.slug };
}

/**
 * Establishes who calls and in which tenant, into `ctx`, or throws. `method`
 * is "package.Service/Method". The caller is recorded before the rule is
 * checked, so the request log names the token of a refused call too.
 */
export type Authorize = (ctx: RequestContext, method: string, header: Headers) => Promise<void>;

/**
 * The one authorization check, shared by the access interceptor and the sync
 * fast path. Every RPC's rule comes from its proto declaration (see
 * access-rules.ts); a method missing from the table is refused, never waved
 * through.
 */
export function createAuthorizer(deps: {
  rules: Map<string, AccessRule>;
  verifier: CallerResolver;
  directory: TenantDirectory;
  /** Request rates (limits/limiter.ts), checked once the caller and tenant are known. */
  limiter: Pick<Limiter, "admitRequest">;
  /** Reads the request's credential: its bearer, or the console's session cookie under its rules. */
  browserSessions: Pick<BrowserSessions, "credentialOf">;
}): Authorize {
  return async (ctx, method, header) => {
    const rule = deps.rules.get(method);
    if (!rule) throw permissionDenied(ErrorReason.PERMISSION_DENIED, "this method declares no access rule");
    if (rule.kind === "public") return;

    const presented = deps.browserSessions.credentialOf(header, ctx);
    // A cookie refused by its rules counts as absent; saying why spares a developer the guesswork.
    if (presented.via === undefined && presented.refusal) throw presented.refusal;
    const caller = await deps.verifier.verify(presented.token);
    if (presented.via !== undefined) ctx.credential = { token: presented.token, via: presented.via };
    ctx.caller = caller;
    switch (rule.kind) {
      case "platform":
        if (!caller.platformAdmin) {
          throw permissionDenied(ErrorReason.PERMISSION_DENIED, "this call needs a platform administrator");
        }
        break;
      case "authenticated":
        ctx.tenant = await resolveTenant(caller, header.get(TENANT_HEADER), deps.directory);
        break;
      case "permission":
        ctx.tenant = await resolveTenant(caller, header.get(TENANT_HEADER), deps.directory);
        if (!caller.permissions.has(rule.permission)) {
          throw permissionDenied(ErrorReason.PERMISSION_DENIED, `this call needs the permission "${rule.permission}"`, {
            permission: rule.permission,
          });
        }
        break;
    }
    await deps.limiter.admitRequest(caller, ctx.tenant?.id ?? caller.homeTenantId);
  };
}

/**
 * Runs the authorization check before every RPC served by the connect
 * adapter; a server stream also takes a stream slot (limits/limiter.ts),
 * given back when the call ends however it ends (connect aborts the call's
 * signal then).
 */
export function createAccessInterceptor(authorize: Authorize, limiter: Pick<Limiter, "openStream">): Interceptor {
  return (next) => async (req) => {
    const ctx = req.contextValues.get(requestContextKey);
    await authorize(ctx, `${req.service.typeName}/${req.method.name}`, req.header);
    if (req.method.methodKind !== "server_streaming") return next(req);
    const release = await limiter.openStream(ctx);
    if (req.signal.aborted) release();
    else req.signal.addEventListener("abort", release, { once: true });
    try {
      return await next(req);
    } catch (err) {
      release();
      throw err;
    }
  };
}
