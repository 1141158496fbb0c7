import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { AppliedChange, Runtime } from "./runtime-fleet.js";
import { REPO_ROOT } from "./test-server.js";

/**
 * The Python runtime client (clients/python) as a fault suite's runtime: a
 * process of its own (test/support/python_runtime.py) reporting what its
 * EngineSyncProvider applies. It needs the virtual environment .ci/run builds
 * (.venv-ci, engine_cloud installed), or ENGINE_TEST_PYTHON naming a Python
 * that has it; without one the suites leave Python runtimes out.
 */
export const PYTHON_WITH_CLIENT = [process.env.ENGINE_TEST_PYTHON, path.join(REPO_ROOT, ".venv-ci/bin/python")].find(
  (p): p is string => !!p && existsSync(p),
);

interface Line {
  event: "open" | "pulled" | "upsert" | "delete" | "reset" | "caught_up";
  revision?: number | string;
  id?: string;
  ids?: string[];
}

/** A Python runtime of `project` against `baseUrl`, started with only the variables Engine OSS sets. */
export function startPythonRuntime(name: string, baseUrl: string, token: string, project: string, heartbeatMs: number): Runtime {
  if (!PYTHON_WITH_CLIENT) throw new Error("no Python with engine_cloud installed (.venv-ci: run .ci/run once)");
  const child: ChildProcess = spawn(PYTHON_WITH_CLIENT, [path.join(REPO_ROOT, "test/support/python_runtime.py")], {
    env: {
      PATH: process.env.PATH,
      ENGINE_OAUTH_API_KEY: token,
      ENGINE_OAUTH_API_URL: baseUrl,
      ENGINE_CLOUD_PROJECT: project,
      ENGINE_TEST_HEARTBEAT_SECONDS: String(heartbeatMs / 1000),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const changes: AppliedChange[] = [];
  const held = new Set<string>();
  let revision = 0;
  let streams = 0;
  let inSnapshot = false;
  let stderr = "";
  let becameReady!: () => void;
  let failed!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => ((becameReady = resolve), (failed = reject)));
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.on("exit", (code) => failed(new Error(`${name} exited (${code}) before its first snapshot: ${stderr}`)));
  createInterface({ input: child.stdout! }).on("line", (text) => {
    const line = JSON.parse(text) as Line;
    const r = Number(line.revision ?? 0);
    switch (line.event) {
      case "open":
        streams++;
        break;
      case "pulled":
        for (const id of line.ids ?? []) held.add(id);
        revision = Math.max(revision, r);
        becameReady();
        break;
      case "reset":
        inSnapshot = true;
        held.clear();
        break;
      case "caught_up":
        inSnapshot = false;
        revision = Math.max(revision, r);
        break;
      case "upsert":
      case "delete":
        if (line.event === "upsert") held.add(line.id!);
        else held.delete(line.id!);
        // A snapshot after a RESET restates the state; it is not a change seen live.
        if (!inSnapshot) changes.push({ revision: r, id: line.id!, kind: line.event });
        revision = Math.max(revision, r);
        break;
    }
  });
  return {
    name,
    changes,
    revision: () => revision,
    held: () => new Set(held),
    streams: () => streams,
    ready,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin!.end();
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
