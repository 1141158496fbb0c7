import type { ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "@engine-cloud/sdk";
import { requestContextKey } from "../tenancy/request-context.js";
import { TOKEN_KIND_TO_PROTO } from "./to-proto.js";

export function createAuthService(): ServiceImpl<typeof AuthService> {
  return {
    whoAmI(_req, ctx) {
      const { caller, tenant } = ctx.values.get(requestContextKey);
      if (!caller) throw new Error("WhoAmI reached without a caller");
      return {
        principalType: caller.principalType,
        principalId: caller.principalId,
        displayName: caller.displayName,
        tenantId: tenant?.id ?? "",
        tenantSlug: tenant?.slug ?? "",
        tokenKind: TOKEN_KIND_TO_PROTO[caller.tokenKind],
        platformAdmin: caller.platformAdmin,
        permissions: [...caller.permissions].sort(),
        projects: [...caller.projects],
      };
    },
  };
}
