import { create } from "@bufbuild/protobuf";
import {
  ConnectFlowState,
  ConnectFlowStateSchema,
  ConnectionStatusSchema,
  DisconnectConnectionResponseSchema,
  RefreshConnectionResponseSchema,
  GetConnectionResponseSchema,
  ListConnectionsResponseSchema,
  ListProvidersResponseSchema,
  StartConnectResponseSchema,
  type Connection,
} from "@engine-cloud/api";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { programName } from "../framework/help.js";
import { formatFields, formatInstant, formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";
import { parseDuration } from "../parse/duration.js";
import { enumLabel } from "../parse/enum-label.js";
import { parseKeyValues } from "../parse/key-value.js";

/** How often `connect` asks whether the browser came back: often enough to feel immediate, rare enough to cost nothing. */
const POLL_MS = 1000;
/** A connect flow accepts its callback for 10 minutes; waiting longer would only wait for an expired flow. */
const DEFAULT_WAIT = "10m";

const connect = defineCommand({
  name: "connect",
  summary: "Connect an account: prints the URL to open in a browser, then waits until the provider sends it back",
  args: ["provider"],
  options: {
    project: {
      type: "string",
      placeholder: "<name>",
      description: "The project the connection belongs to (default: every project)",
    },
    alias: { type: "string", placeholder: "<alias>", description: 'The account\'s alias, e.g. "work" (default: "default")' },
    scope: {
      type: "string",
      multiple: true,
      placeholder: "<scope>",
      description: "A scope to ask for instead of the defaults; repeat for more",
    },
    param: {
      type: "string",
      multiple: true,
      placeholder: "<name=value>",
      description: "A value for the provider's URL, e.g. my_domain=acme for Salesforce; repeat for more",
    },
    wait: {
      type: "string",
      placeholder: "<duration>",
      description: `How long to wait for the browser, e.g. 5m (default ${DEFAULT_WAIT})`,
    },
  },
  async run(ctx, [provider], options) {
    const waitMs = parseDuration(options.wait ?? DEFAULT_WAIT);
    const urlParameters = parseKeyValues("param", options.param);
    const client = ctx.client();
    const started = await client.connections.startConnect({
      provider,
      project: options.project ?? "",
      alias: options.alias ?? "",
      scopes: options.scope,
      urlParameters,
    });
    ctx.out.item(
      StartConnectResponseSchema,
      started,
      () => `Open this URL in a browser to connect ${provider}:\n${started.authorizationUrl}`,
    );
    ctx.out.note("Waiting for the browser to come back…");
    const interrupted = ctx.untilInterrupted();
    const deadline = Date.now() + waitMs;
    const flowId = started.flow!.id;
    for (;;) {
      const { flow } = await client.connections.getConnectFlow({ id: flowId }, { signal: interrupted });
      if (flow?.state === ConnectFlowState.COMPLETED) {
        const res = await client.connections.getConnection({ id: flow.connectionId });
        ctx.out.item(GetConnectionResponseSchema, res, () =>
          res.connection ? `Connected.\n${formatConnectionFields(res.connection, ctx.now)}` : "",
        );
        return;
      }
      if (flow?.state === ConnectFlowState.FAILED) {
        throw new Error(
          `the connection failed: ${flow.error}${flow.errorDescription ? ` (${flow.errorDescription})` : ""}; run the command again to retry`,
        );
      }
      if (flow?.state === ConnectFlowState.EXPIRED || Date.now() >= deadline) {
        throw new Error(
          `nobody came back from the browser in time (flow ${enumLabel(ConnectFlowStateSchema, flow?.state ?? 0)}); run the command again`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (interrupted.aborted)
        throw new Error(`stopped waiting; the flow stays open until it expires: ${programName} connection list`);
    }
  },
});

const providers = defineCommand({
  name: "providers",
  summary: "List the providers you can connect: the catalog, then the tenant's custom ones",
  async run(ctx) {
    const res = await ctx.client().connections.listProviders({});
    ctx.out.result(ListProvidersResponseSchema, res, () =>
      formatTable(
        ["id", "name", "parameters", "custom"],
        res.providers.map((p) => [p.id, p.displayName, p.urlParameters.join(","), p.custom ? "yes" : ""]),
      ),
    );
  },
});

const list = defineCommand({
  name: "list",
  summary: "List the tenant's connections, never their tokens",
  options: { provider: { type: "string", placeholder: "<id>", description: "Only this provider" } },
  async run(ctx, _args, options) {
    const connections = await collectPages(async (pageToken) => {
      const res = await ctx.client().connections.listConnections({ pageToken, provider: options.provider ?? "" });
      return { items: res.connections, nextPageToken: res.nextPageToken };
    });
    ctx.out.result(ListConnectionsResponseSchema, create(ListConnectionsResponseSchema, { connections }), () =>
      connections.length === 0
        ? `No connections. Connect one with: ${programName} connection connect <provider>`
        : formatTable(
            ["id", "provider", "alias", "project", "account", "status", "expires"],
            connections.map((c) => [
              c.id,
              c.provider,
              c.alias,
              c.project || "(all)",
              c.externalAccount,
              enumLabel(ConnectionStatusSchema, c.status),
              formatRelative(c.accessTokenExpiresAt, ctx.now),
            ]),
          ),
    );
  },
});

const get = defineCommand({
  name: "get",
  summary: "Show one connection, never its tokens",
  args: ["id"],
  async run(ctx, [id]) {
    const res = await ctx.client().connections.getConnection({ id });
    ctx.out.result(GetConnectionResponseSchema, res, () =>
      res.connection ? formatConnectionFields(res.connection, ctx.now) : "",
    );
  },
});

const disconnect = defineCommand({
  name: "disconnect",
  summary: "Disconnect: the tokens are erased; connecting the account again reuses the connection",
  args: ["id"],
  async run(ctx, [id]) {
    const res = await ctx.client().connections.disconnectConnection({ id });
    ctx.out.result(
      DisconnectConnectionResponseSchema,
      res,
      () =>
        `Disconnected ${res.connection?.provider} "${res.connection?.alias}" (${id}); ` +
        (res.revokedAtProvider ? "the provider revoked the grant." : "the provider did not confirm a revocation."),
    );
  },
});

const refresh = defineCommand({
  name: "refresh",
  summary: "Refresh a connection's tokens now, whatever its schedule, and show where it stands",
  args: ["id"],
  async run(ctx, [id]) {
    const res = await ctx.client().connections.refreshConnection({ id });
    const c = res.connection;
    ctx.out.result(RefreshConnectionResponseSchema, res, () =>
      c
        ? `${c.provider} "${c.alias}" (${id}) is ${enumLabel(ConnectionStatusSchema, c.status)}` +
          (c.statusReason ? ` (${c.statusReason}${c.statusDescription ? `: ${c.statusDescription}` : ""})` : "") +
          `; generation ${c.generation}, the access token expires ${formatRelative(c.accessTokenExpiresAt, ctx.now)}.`
        : "",
    );
  },
});

export const connectionCommands: CommandGroup = {
  name: "connection",
  summary: "Connect accounts at OAuth providers; the server keeps their tokens",
  commands: [connect, providers, list, get, refresh, disconnect],
};

function formatConnectionFields(c: Connection, now: Date): string {
  return formatFields([
    ["Id", c.id],
    ["Provider", c.provider],
    ["Alias", c.alias],
    ["Project", c.project || "(all projects)"],
    ["Account", c.externalAccount],
    [
      "Status",
      `${enumLabel(ConnectionStatusSchema, c.status)}${c.statusReason ? ` (${c.statusReason}: ${c.statusDescription})` : ""}`,
    ],
    ["Scopes", c.scopes.join(" ")],
    ["Token expires", formatInstant(c.accessTokenExpiresAt, now, "-")],
    ["Next refresh", formatInstant(c.nextRefreshAt, now, "-")],
    ["Generation", String(c.generation)],
    ["Connected", `${formatInstant(c.createdAt, now)} by ${c.createdBy}`],
  ]);
}
