import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const CONSOLE_DIST = path.join(REPO_ROOT, "packages/console/dist");
export const SCREENSHOT_DIR = path.join(REPO_ROOT, "test-results/screenshots");
