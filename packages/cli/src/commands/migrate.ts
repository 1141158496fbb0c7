import type { PassthroughCommand } from "../framework/command.js";
import { runServerEntryPoint } from "../framework/server-entry-point.js";

export const migrateCommand: PassthroughCommand = {
  name: "migrate",
  summary: "Apply database migrations (needs @engine-cloud/server; flags go to the server)",
  passthrough: true,
  run: (argv) => runServerEntryPoint("migrate", argv),
};
