import { TokenKind, TokenKindSchema, WhoAmIResponseSchema, type WhoAmIResponse } from "@engine-cloud/api";
import { defineCommand } from "../framework/command.js";
import { describeCredentialSource } from "../sign-in/bearer-source.js";
import { enumLabel } from "../parse/enum-label.js";
import { formatFields } from "../framework/output.js";
import { sessionFilePath } from "../sign-in/session-file.js";

export const whoamiCommand = defineCommand({
  name: "whoami",
  summary: "Show who your credential is: person or token, tenant, role, permissions",
  async run(ctx) {
    const res = await ctx.client().auth.whoAmI({});
    const source = describeCredentialSource(ctx.credential(), sessionFilePath(ctx.configDir));
    ctx.out.result(WhoAmIResponseSchema, res, () => formatIdentity(res, source));
  },
});

function formatIdentity(me: WhoAmIResponse, source: string): string {
  const tenant = me.tenantId ? `${me.tenantSlug} (${me.tenantId})` : "none";
  const person = me.principalType === "user";
  return formatFields([
    ["Principal", `${me.principalType} ${me.principalId}`],
    ["Name", me.displayName],
    ...(me.tokenKind === TokenKind.UNSPECIFIED ? [] : [["Kind", enumLabel(TokenKindSchema, me.tokenKind)] as const]),
    ["Tenant", tenant],
    ...(person ? [["Role", me.role] as const, ["Session", me.sessionId] as const] : []),
    ["Platform admin", me.platformAdmin ? "yes" : "no"],
    ["Permissions", me.permissions.join(", ") || "none"],
    ["Projects", me.projects.join(", ") || "every allowed project"],
    ["Credential", source],
  ]);
}
