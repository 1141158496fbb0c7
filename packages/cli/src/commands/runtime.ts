import { create } from "@bufbuild/protobuf";
import { ListRuntimesResponseSchema, RuntimeState, type Runtime } from "@engine-cloud/api";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";

const list = defineCommand({
  name: "list",
  summary: "List the runtimes connected to the tenant (the global --tenant names another, for platform administrators)",
  options: {
    project: { type: "string", placeholder: "<name>", description: "Only the runtimes of this project" },
    all: { type: "boolean", description: "Include runtimes whose stream has ended (kept for a day by default)" },
    "all-tenants": { type: "boolean", description: "Every tenant's runtimes (platform administrators only)" },
  },
  async run(ctx, _args, options) {
    const runtimes = await collectPages(async (pageToken) => {
      const res = await ctx.client().runtimes.listRuntimes({
        pageToken,
        project: options.project,
        includeOffline: options.all,
        tenantId: options["all-tenants"] ? "*" : "",
      });
      return { items: res.runtimes, nextPageToken: res.nextPageToken };
    });
    const everyTenant = options["all-tenants"] === true;
    ctx.out.result(ListRuntimesResponseSchema, create(ListRuntimesResponseSchema, { runtimes }), () =>
      runtimes.length === 0
        ? "No runtimes."
        : formatTable(
            [...(everyTenant ? ["tenant"] : []), "runtime", "token", "project", "state", "since", "revision lag"],
            runtimes.map((r) => [
              ...(everyTenant ? [r.tenantId] : []),
              runtimeLabel(r),
              r.tokenLabel,
              r.project,
              r.state === RuntimeState.OFFLINE ? "offline" : "connected",
              formatRelative(r.state === RuntimeState.OFFLINE ? r.offlineSince : r.connectedSince, ctx.now),
              String(r.revisionLag),
            ]),
          ),
    );
  },
});

/** "engine-oss 0.9.2 on worker-7", falling back to the runtime id, then the stream id. */
function runtimeLabel(r: Runtime): string {
  const info = r.info;
  const name = [info?.name, info?.version].filter(Boolean).join(" ");
  const host = info?.host ? `on ${info.host}` : "";
  return [name, host].filter(Boolean).join(" ") || r.runtimeId || r.streamId;
}

export const runtimeCommands: CommandGroup = {
  name: "runtime",
  summary: "See which runtimes are connected",
  commands: [list],
};
