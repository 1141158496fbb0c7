import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Builds the packages once per test run (incremental: a second or two when
 * nothing changed), so suites that run the built server, CLI or SDK tarball
 * never test stale output.
 */
export default function buildPackages(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-b", "packages/api", "packages/sdk", "packages/server", "packages/cli"], {
    cwd: root,
    stdio: "inherit",
  });
}
