import { homedir } from "node:os";
import path from "node:path";

/** ~/.engine, where a runtime keeps its local key and credential caches. */
export function engineHome(): string {
  return path.join(homedir(), ".engine");
}
