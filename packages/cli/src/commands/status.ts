import { GetServerInfoResponseSchema } from "@engine-cloud/api";
import { defineCommand } from "../framework/command.js";
import { formatFields } from "../framework/output.js";

export const statusCommand = defineCommand({
  name: "status",
  summary: "Check that the server answers, and show its version and protocols",
  async run(ctx) {
    const res = await ctx.client().server.getServerInfo({});
    ctx.out.result(GetServerInfoResponseSchema, res, () =>
      formatFields([
        ["Server", ctx.globals.serverUrl],
        ["Version", res.version],
        ["API", res.api],
        ["Protocols", res.protocols.join(", ")],
      ]),
    );
  },
});
