import { TokenKind, TokenKindSchema, WhoAmIResponseSchema, type WhoAmIResponse } from "@engine-cloud/sdk";
import { defineCommand } from "../command.js";
import { enumLabel } from "../enum-label.js";
import { formatFields } from "../output.js";

export const whoamiCommand = defineCommand({
  name: "whoami",
  summary: "Show who your credential is: tenant, kind, permissions",
  async run(ctx) {
    const res = await ctx.client().auth.whoAmI({});
    ctx.out.result(WhoAmIResponseSchema, res, () => formatIdentity(res));
  },
});

function formatIdentity(me: WhoAmIResponse): string {
  const tenant = me.tenantId ? `${me.tenantSlug} (${me.tenantId})` : "none";
  return formatFields([
    ["Principal", `${me.principalType} ${me.principalId}`],
    ["Name", me.displayName],
    ...(me.tokenKind === TokenKind.UNSPECIFIED ? [] : [["Kind", enumLabel(TokenKindSchema, me.tokenKind)] as const]),
    ["Tenant", tenant],
    ["Platform admin", me.platformAdmin ? "yes" : "no"],
    ["Permissions", me.permissions.join(", ") || "none"],
    ["Projects", me.projects.join(", ") || "every allowed project"],
  ]);
}
