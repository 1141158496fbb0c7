import type { PassthroughCommand } from "../framework/command.js";
import { runServerEntryPoint } from "../framework/server-entry-point.js";

export const serveCommand: PassthroughCommand = {
  name: "serve",
  summary: "Run the Engine Cloud server (needs @engine-cloud/server; flags go to the server)",
  passthrough: true,
  run: (argv) => runServerEntryPoint("serve", argv),
};
