import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { CONSOLE_DIST, REPO_ROOT } from "./console-paths.js";

/**
 * Builds the console once per browser run (under a second warm), so no test drives a stale bundle; the server
 * of every test serves this dist through ENGINE_CLOUD_CONSOLE_DIR.
 */
export default function buildConsole(): void {
  const vite = path.join(REPO_ROOT, "packages/console/node_modules/vite/bin/vite.js");
  const bin = existsSync(vite) ? vite : path.join(REPO_ROOT, "node_modules/vite/bin/vite.js");
  // NODE_ENV is "test" under vitest; Vite would then bundle React's development build, not what people get.
  execFileSync(process.execPath, [bin, "build", "--logLevel", "warn"], {
    cwd: path.join(REPO_ROOT, "packages/console"),
    env: { ...process.env, NODE_ENV: "production" },
    stdio: "inherit",
  });
  if (!existsSync(path.join(CONSOLE_DIST, "index.html")))
    throw new Error(`the console build wrote no ${CONSOLE_DIST}/index.html`);
}
