import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CreateTokenResponseSchema,
  GetTokenResponseSchema,
  ListTokensResponseSchema,
  RevokeTokenResponseSchema,
  TokenKind,
  TokenKindSchema,
  type Token,
} from "@engine-cloud/api";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { parseExpiry } from "../parse/duration.js";
import { enumLabel, enumLabels, parseEnumLabel } from "../parse/enum-label.js";
import { formatFields, formatInstant, formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";
import { UsageError } from "../framework/usage-error.js";

const add = defineCommand({
  name: "add",
  summary: "Create a token and print its secret, once",
  options: {
    label: { type: "string", required: true, placeholder: "<label>", description: "Human label, e.g. prod-runtime-eu" },
    kind: {
      type: "string",
      placeholder: "<kind>",
      description: `What the token may do: ${enumLabels(TokenKindSchema).join(", ")} (default runtime)`,
    },
    project: {
      type: "string",
      multiple: true,
      placeholder: "<name>",
      description: "Limit a runtime token to this project; repeat for more (default: every allowed project)",
    },
    expires: {
      type: "string",
      placeholder: "<when>",
      description: "Expiry: 90m, 12h, 30d from now, or an ISO date such as 2027-01-31 (default: never)",
    },
  },
  async run(ctx, _args, options) {
    const kind = parseTokenKind(options.kind ?? "runtime");
    const expiresAt = options.expires === undefined ? undefined : parseExpiry(options.expires, ctx.now);
    const res = await ctx.client().tokens.createToken({
      label: options.label,
      kind,
      projects: options.project,
      expiresAt: expiresAt && timestampFromDate(expiresAt),
    });
    if (res.token) {
      ctx.out.note(
        `Created ${enumLabel(TokenKindSchema, res.token.kind)} token "${res.token.label}" (id ${res.token.id}, ` +
          `${res.token.expiresAt ? `expires ${formatRelative(res.token.expiresAt, ctx.now)}` : "no expiry"}).`,
      );
    }
    ctx.out.note("warning: this is the only time the secret is shown; store it now, it cannot be shown again.");
    // The secret alone on stdout, so `engine-cloud token add ... > file` keeps it and nothing else.
    ctx.out.result(CreateTokenResponseSchema, res, () => res.secret);
  },
});

const list = defineCommand({
  name: "list",
  summary: "List the tenant's tokens, newest first",
  options: { all: { type: "boolean", description: "Include revoked and expired tokens" } },
  async run(ctx, _args, options) {
    const tokens = await collectPages(async (pageToken) => {
      const res = await ctx.client().tokens.listTokens({ pageToken, showInactive: options.all });
      return { items: res.tokens, nextPageToken: res.nextPageToken };
    });
    ctx.out.result(ListTokensResponseSchema, create(ListTokensResponseSchema, { tokens }), () =>
      tokens.length === 0
        ? "No tokens."
        : formatTable(
            ["id", "label", "kind", "prefix", "projects", "status", "created", "expires", "last used"],
            tokens.map((t) => [
              t.id,
              t.label,
              enumLabel(TokenKindSchema, t.kind),
              t.displayPrefix,
              t.projects.join(",") || "all",
              tokenStatus(t, ctx.now),
              formatRelative(t.createdAt, ctx.now),
              formatRelative(t.expiresAt, ctx.now, "never"),
              formatRelative(t.lastUsedAt, ctx.now, "never"),
            ]),
          ),
    );
  },
});

const get = defineCommand({
  name: "get",
  summary: "Show one token (never its secret)",
  args: ["id"],
  async run(ctx, [id]) {
    const res = await ctx.client().tokens.getToken({ id });
    ctx.out.result(GetTokenResponseSchema, res, () => (res.token ? formatTokenFields(res.token, ctx.now) : ""));
  },
});

const revoke = defineCommand({
  name: "revoke",
  summary: "Revoke a token; every server refuses it from its next request",
  args: ["id"],
  async run(ctx, [id]) {
    const res = await ctx.client().tokens.revokeToken({ id });
    ctx.out.result(RevokeTokenResponseSchema, res, () => `Revoked token ${id}.`);
  },
});

export const tokenCommands: CommandGroup = {
  name: "token",
  summary: "Create, list, inspect and revoke API tokens",
  commands: [add, list, get, revoke],
};

function parseTokenKind(label: string): TokenKind {
  const kind = parseEnumLabel(TokenKindSchema, label);
  if (kind === undefined) {
    throw new UsageError(`invalid --kind "${label}": use one of ${enumLabels(TokenKindSchema).join(", ")}`);
  }
  return kind;
}

function tokenStatus(token: Token, now: Date): string {
  if (token.revokedAt) return "revoked";
  if (token.expiresAt && timestampDate(token.expiresAt) <= now) return "expired";
  return "active";
}

function formatTokenFields(token: Token, now: Date): string {
  return formatFields([
    ["ID", token.id],
    ["Label", token.label],
    ["Kind", enumLabel(TokenKindSchema, token.kind)],
    ["Prefix", token.displayPrefix],
    ["Tenant", token.tenantId],
    ["Projects", token.projects.join(", ") || "every allowed project"],
    ["Status", tokenStatus(token, now)],
    ["Created", `${formatInstant(token.createdAt, now)} by ${token.createdBy || "unknown"}`],
    ["Expires", formatInstant(token.expiresAt, now, "never")],
    ["Revoked", formatInstant(token.revokedAt, now, "no")],
    ["Last used", formatInstant(token.lastUsedAt, now, "never")],
  ]);
}
