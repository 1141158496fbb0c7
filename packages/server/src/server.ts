import { readFileSync } from "node:fs";
import { createApp, type App } from "./app.js";
import type { Config } from "./config.js";
import type { Logger } from "./log.js";
import { listen } from "./transport/http-server.js";

export interface RunningServer {
  app: App;
  /** e.g. "http://127.0.0.1:7070" */
  url: string;
  /** Stop accepting, let in-flight calls finish within the grace period, close the database. */
  stop(): Promise<void>;
}

export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const app = await createApp(config, log);
  const tls = config.tls && { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
  const listener = await listen(app.handler, { ...config.listen, tls, limits: config.transport }).catch(async (err) => {
    await app.close();
    throw err;
  });
  const host = listener.address.host.includes(":") ? `[${listener.address.host}]` : listener.address.host;
  const url = `${tls ? "https" : "http"}://${host}:${listener.address.port}`;
  app.listeningAt(url);
  log.info("listening", { url, database: app.storage.kind, protocols: ["grpc", "grpc-web", "connect"] });
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    stop: () =>
      (stopping ??= (async () => {
        app.drain();
        await listener.close(config.shutdownGraceMs);
        await app.close();
      })()),
  };
}
