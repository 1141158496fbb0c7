import { readFileSync } from "node:fs";
import { createApp, type App, type AppSeams } from "./app.js";
import type { Config } from "./config.js";
import type { Logger } from "./log.js";
import { listen } from "./transport/http-server.js";
import { listenForMetrics, type MetricsListener } from "./metrics/metrics-listener.js";

export interface RunningServer {
  app: App;
  /** e.g. "http://127.0.0.1:7070" */
  url: string;
  /** Where GET /metrics is served on its own (ENGINE_CLOUD_METRICS_ADDR), e.g. "http://127.0.0.1:9464/metrics". */
  metricsUrl?: string;
  /** Stop accepting, let in-flight calls finish within the grace period, close the database. */
  stop(): Promise<void>;
}

export async function startServer(config: Config, log: Logger, seams: AppSeams = {}): Promise<RunningServer> {
  const app = await createApp(config, log, seams);
  const tls = config.tls && { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
  const listener = await listen(app.handler, { ...config.listen, tls, limits: config.transport }).catch(async (err) => {
    await app.close();
    throw err;
  });
  const url = `${tls ? "https" : "http"}://${hostPort(listener.address)}`;
  let metricsListener: MetricsListener | undefined;
  if (config.metrics.listen) {
    metricsListener = await listenForMetrics(app.metrics, config.metrics.listen, config.metrics.token).catch(async (err) => {
      await listener.close(0);
      await app.close();
      throw err;
    });
  }
  const metricsUrl = metricsListener && `http://${hostPort(metricsListener.address)}/metrics`;
  app.listeningAt(url);
  log.info("listening", { url, database: app.storage.kind, protocols: ["grpc", "grpc-web", "connect"], metrics: metricsUrl });
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    metricsUrl,
    stop: () =>
      (stopping ??= (async () => {
        if (config.drainDelayMs > 0) {
          app.leaveRotation();
          log.info("out of rotation: still serving until the drain", { drain_delay_ms: config.drainDelayMs });
          await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
        }
        app.drain();
        await listener.close(config.shutdownGraceMs);
        await metricsListener?.close();
        await app.close();
      })()),
  };
}

function hostPort(address: { host: string; port: number }): string {
  return `${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
}
