import { createLogger, loadConfig, startServer, type RunningServer } from "@engine-cloud/server";
import type { BenchDatabase } from "./bench-database.js";
import { newServerSecrets, serverEnvironment, type ServerSecrets } from "./server-process.js";

export interface InProcessServer {
  server: RunningServer;
  secrets: ServerSecrets;
  /** How long the verifier trusts a cached verdict without hearing of a change. */
  tokenCacheTtlMs: number;
}

/**
 * The server in this process, for what only its internals can tell (the
 * verifier's look-up counter, the cost of one verify call). Client and server
 * then share one event loop, so rates measured this way are not comparable
 * with the separate-process tables.
 */
export async function startInProcessServer(database: BenchDatabase, env: Record<string, string> = {}): Promise<InProcessServer> {
  const secrets = newServerSecrets();
  const config = loadConfig([], {
    ...serverEnvironment({ ...database, secrets, listen: "127.0.0.1:0", logLevel: "warn" }),
    ...env,
  });
  const server = await startServer(
    config,
    createLogger("warn", () => {}),
  );
  return { server, secrets, tokenCacheTtlMs: config.tokenCacheTtlMs };
}
