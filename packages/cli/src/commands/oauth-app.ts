import { readFile } from "node:fs/promises";
import {
  DeleteOAuthAppResponseSchema,
  ListOAuthAppsResponseSchema,
  SetOAuthAppResponseSchema,
  TokenAuthMethod,
} from "@engine-cloud/api";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { programName } from "../framework/help.js";
import { formatTable } from "../framework/output.js";
import { UsageError } from "../framework/usage-error.js";

const set = defineCommand({
  name: "set",
  summary: "Set the OAuth app (client id and secret) the tenant connects a provider with; the secret is never shown again",
  args: ["provider"],
  options: {
    "client-id": { type: "string", required: true, placeholder: "<id>", description: "The client id the provider issued" },
    "client-secret-stdin": {
      type: "boolean",
      description: "Read the client secret from standard input (one trailing newline is dropped)",
    },
    "client-secret-file": { type: "string", placeholder: "<file>", description: "Read the client secret from a file" },
    scope: {
      type: "string",
      multiple: true,
      placeholder: "<scope>",
      description: "A scope to ask for instead of the provider's defaults; repeat",
    },
    shared: { type: "boolean", description: "Share the app with every tenant (operator tenant only)" },
    "authorize-url": { type: "string", placeholder: "<url>", description: "Custom provider: its authorization endpoint" },
    "token-url": { type: "string", placeholder: "<url>", description: "Custom provider: its token endpoint" },
    "revocation-url": { type: "string", placeholder: "<url>", description: "Custom provider: its RFC 7009 revocation endpoint" },
    issuer: {
      type: "string",
      placeholder: "<url>",
      description: "Custom provider: its issuer identifier, checked against iss (RFC 9207)",
    },
    "no-pkce": { type: "boolean", description: "Custom provider: send no PKCE challenge (only for servers that refuse one)" },
    "basic-auth": { type: "boolean", description: "Custom provider: authenticate at the token endpoint with HTTP Basic" },
  },
  async run(ctx, [provider], options) {
    if (options["client-secret-stdin"] && options["client-secret-file"]) {
      throw new UsageError("give the client secret with --client-secret-stdin or --client-secret-file, not both");
    }
    const custom = options["authorize-url"] !== undefined || options["token-url"] !== undefined;
    if (custom && (!options["authorize-url"] || !options["token-url"])) {
      throw new UsageError("a custom provider needs both --authorize-url and --token-url");
    }
    const secret = options["client-secret-file"]
      ? await readFile(options["client-secret-file"], "utf8")
      : options["client-secret-stdin"]
        ? await ctx.readStdin()
        : "";
    const res = await ctx.client().oauthApps.setOAuthApp({
      provider,
      clientId: options["client-id"],
      clientSecret: secret.replace(/\r?\n$/, ""),
      scopes: options.scope,
      shared: options.shared,
      customProvider: custom
        ? {
            id: provider,
            authorizeUrl: options["authorize-url"],
            tokenUrl: options["token-url"],
            revocationUrl: options["revocation-url"] ?? "",
            issuer: options.issuer ?? "",
            pkce: !options["no-pkce"],
            tokenAuthMethod: options["basic-auth"] ? TokenAuthMethod.CLIENT_SECRET_BASIC : TokenAuthMethod.CLIENT_SECRET_POST,
          }
        : undefined,
    });
    ctx.out.result(
      SetOAuthAppResponseSchema,
      res,
      () =>
        `OAuth app for ${provider} set (version ${res.app?.version}${res.app?.hasClientSecret ? ", client secret stored" : ", no client secret"}).\n` +
        `Connect an account with: ${programName} connection connect ${provider}`,
    );
  },
});

const list = defineCommand({
  name: "list",
  summary: "List the tenant's OAuth apps and the shared ones it may use, never their secrets",
  async run(ctx) {
    const res = await ctx.client().oauthApps.listOAuthApps({});
    ctx.out.result(ListOAuthAppsResponseSchema, res, () =>
      res.apps.length === 0
        ? `No OAuth apps. Set one with: ${programName} oauth-app set <provider> --client-id <id> --client-secret-stdin`
        : formatTable(
            ["provider", "client id", "secret", "shared", "custom"],
            res.apps.map((a) => [
              a.provider,
              a.clientId,
              a.hasClientSecret ? "stored" : "none",
              a.shared ? "yes" : "",
              a.customProvider ? "yes" : "",
            ]),
          ),
    );
  },
});

const remove = defineCommand({
  name: "delete",
  summary: "Delete the tenant's OAuth app for a provider",
  args: ["provider"],
  async run(ctx, [provider]) {
    const res = await ctx.client().oauthApps.deleteOAuthApp({ provider });
    ctx.out.result(DeleteOAuthAppResponseSchema, res, () =>
      res.deleted ? `Deleted the OAuth app for ${provider}.` : `There was no OAuth app for ${provider}.`,
    );
  },
});

export const oauthAppCommands: CommandGroup = {
  name: "oauth-app",
  summary: "Set, list and delete the OAuth apps the connector hub uses",
  commands: [set, list, remove],
};
