import { BootstrapError } from "./bootstrap.js";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./log.js";
import { startServer } from "./server.js";
import { openDatabase } from "./store/open-database.js";
import { migrateToLatest } from "./store/migrate.js";

function configOrExit(argv: string[]) {
  try {
    return loadConfig(argv, process.env, { stdoutIsTTY: process.stdout.isTTY });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`engine-cloud: ${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

/** `engine-cloud serve`: runs until SIGTERM/SIGINT, then shuts down gracefully. Resolves to the exit code. */
export async function serve(argv: string[]): Promise<number> {
  const config = configOrExit(argv);
  if (!config) return 2;
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  let server;
  try {
    server = await startServer(config, log);
  } catch (err) {
    if (err instanceof BootstrapError) {
      process.stderr.write(`engine-cloud: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const generated = server.app.bootstrap.generatedToken;
  if (generated) {
    // The one place a secret is printed, by design: it exists nowhere else.
    process.stderr.write(
      [
        "",
        "  A platform admin token was generated for this new database. It is shown once:",
        "",
        `    ${generated}`,
        "",
        "  Use it with the CLI:  export ENGINE_CLOUD_TOKEN=<the token above>",
        "",
      ].join("\n") + "\n",
    );
  }
  const setupCode = server.app.bootstrap.setupCode;
  if (setupCode) {
    // One plain line on stdout, beside the JSON log: the code is in the fragment, which no server ever receives.
    process.stdout.write(
      `Open ${consoleBaseOf(config.publicUrl, server.url)}/console/setup#code=${setupCode} to create the first platform administrator\n`,
    );
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      log.info("shutting down", { signal, grace_ms: config.shutdownGraceMs });
      server.stop().then(
        () => resolve(0),
        (err) => {
          log.error("shutdown failed", { err: String(err) });
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
}

/** `engine-cloud migrate`: applies pending migrations and exits. */
export async function migrate(argv: string[]): Promise<number> {
  const config = configOrExit(argv);
  if (!config) return 2;
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  const storage = await openDatabase(config, log);
  try {
    const applied = await storage.withoutStatementTimeout(migrateToLatest);
    log.info(applied.length ? "applied migrations" : "database is up to date", { versions: applied });
    return 0;
  } finally {
    await storage.close();
  }
}

/** Where a person on this machine opens the console: the public URL, else the listener (a wildcard address as 127.0.0.1). */
function consoleBaseOf(publicUrl: string | undefined, listening: string): string {
  return publicUrl ?? listening.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://127.0.0.1:");
}
