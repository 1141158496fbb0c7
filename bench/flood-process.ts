import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import type { FloodResult } from "./login-flood.js";
import { REPO_ROOT } from "./server-process.js";

/** The flood process's own start-up (tsx) before its time bound begins. */
const START_TIMEOUT_MS = 120_000;
/** A flood process that has not reported this long after its own time bound is killed. */
const FLOOD_REPORT_GRACE_MS = 30_000;

/**
 * Starts bench/login-flood.ts with these flags (`--ms` among them, the flood's
 * time bound); resolves once its loop runs. The report comes wrapped: an async
 * function returning the bare promise would wait for it.
 */
export async function startFloodProcess(flags: Record<string, string>, ms: number): Promise<{ report: Promise<FloodResult> }> {
  const args = ["--import", "tsx", "--conditions=source", path.join(REPO_ROOT, "bench/login-flood.ts")];
  for (const [name, value] of Object.entries({ ...flags, ms: String(ms) })) args.push(`--${name}`, value);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const killer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS + ms + FLOOD_REPORT_GRACE_MS);
  const lines = createInterface({ input: child.stdout! });
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const report = new Promise<FloodResult>((resolve, reject) => {
    let result: FloodResult | undefined;
    lines.on("line", (line) => {
      if (line === "ready") markReady();
      else if (line.startsWith("{")) result = JSON.parse(line) as FloodResult;
    });
    child.on("exit", (code) => {
      clearTimeout(killer);
      markReady(); // so a flood that died at start does not hang the run
      if (result) resolve(result);
      else reject(new Error(`the flood process exited (${code}) without a report`));
    });
  });
  report.catch(() => {}); // awaited by the caller; this only keeps an early failure from going unhandled
  await ready;
  return { report };
}
