export { serve, migrate } from "./cli-entry.js";
export { startServer, type RunningServer } from "./server.js";
export { createApp, type App, type AppSeams } from "./app.js";
export type { RefreshClock } from "./store/connection-refresh.js";
export { loadConfig, ConfigError, type Config } from "./config.js";
export { createLogger, type Logger } from "./log.js";
