import type { Interceptor } from "@connectrpc/connect";
import { bearerOf } from "../auth/bearer.js";
import type { Caller } from "../auth/caller.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { notFound, permissionDenied } from "../errors/domain-error.js";
import { TENANT_HEADER } from "@engine-cloud/sdk";
import type { AccessRule } from "./access-rules.js";
import { requestContextKey, type TenantRef } from "./request-context.js";
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
    throw permissionDenied("PERMISSION_DENIED", "this credential belongs to another tenant", { header: TENANT_HEADER });
  }
  const tenant = await directory.find(named);
  if (!tenant || tenant.state === "deleted") {
    throw notFound("TENANT_NOT_FOUND", `no tenant "${named}"; list them with: engine-cloud tenant list`);
  }
  return { id: tenant.id, slug: tenant.slug };
}

/**
 * The one authorization check. Every RPC's rule comes from its proto
 * declaration (see access-rules.ts); a method missing from the table is
 * refused, never waved through.
 */
export function createAccessInterceptor(deps: {
  rules: Map<string, AccessRule>;
  verifier: TokenVerifier;
  directory: TenantDirectory;
}): Interceptor {
  return (next) => async (req) => {
    const rule = deps.rules.get(`${req.service.typeName}/${req.method.name}`);
    if (!rule) throw permissionDenied("PERMISSION_DENIED", "this method declares no access rule");
    if (rule.kind === "public") return next(req);

    const ctx = req.contextValues.get(requestContextKey);
    const caller = await deps.verifier.verify(bearerOf(req.header));
    ctx.caller = caller;
    switch (rule.kind) {
      case "platform":
        if (!caller.platformAdmin) {
          throw permissionDenied("PERMISSION_DENIED", "this call needs a platform administrator");
        }
        break;
      case "authenticated":
        ctx.tenant = await resolveTenant(caller, req.header.get(TENANT_HEADER), deps.directory);
        break;
      case "permission":
        ctx.tenant = await resolveTenant(caller, req.header.get(TENANT_HEADER), deps.directory);
        if (!caller.permissions.has(rule.permission)) {
          throw permissionDenied("PERMISSION_DENIED", `this call needs the permission "${rule.permission}"`, {
            permission: rule.permission,
          });
        }
        break;
    }
    return next(req);
  };
}
