import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./test-server.js";

/** The installed binary, exactly as a user runs it: bin/engine-cloud.js → dist/main.js. */
export const CLI_BIN = path.join(REPO_ROOT, "packages/cli/bin/engine-cloud.js");

// The binary runs the compiled CLI, and `serve`/`migrate` load the compiled server: a missing build would
// otherwise surface as an ERR_MODULE_NOT_FOUND deep inside some test's stderr.
const builtEntryPoints = [
  "packages/cli/dist/main.js",
  "packages/server/dist/index.js",
  "packages/sdk/dist/index.js",
  "packages/api/dist/index.js",
];

/** Fails with the fix spelled out when the packages have not been built. */
export function assertCliBuilt(): void {
  const missing = builtEntryPoints.filter((file) => !existsSync(path.join(REPO_ROOT, file)));
  if (missing.length > 0) {
    throw new Error(
      `the CLI tests run the built binary, but ${missing.join(", ")} is missing: run \`npm run build\` first ` +
        "(`npm test` does it for you)",
    );
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment a CLI subprocess sees: this process's, minus any ENGINE_CLOUD_* setting of the developer's
 * shell (a stray ENGINE_CLOUD_TENANT would change every answer), plus the test's own. The config directory
 * points where nothing is, so a session the developer stored with `engine-cloud login` is not picked up either.
 */
export function cliEnvironment(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !name.startsWith("ENGINE_CLOUD_"));
  const noConfig = path.join(tmpdir(), `engine-cloud-cli-test-${randomUUID()}`);
  return { ...Object.fromEntries(inherited), ENGINE_CLOUD_CONFIG_DIR: noConfig, ...env };
}

/** Runs `engine-cloud <args>` to completion; never rejects, so a test can look at a failure's exit code. */
export function runCli(args: string[], env: Record<string, string | undefined>, stdin?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { cwd: REPO_ROOT, env: cliEnvironment(env), timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin!.end(stdin ?? "");
  });
}

/** A CLI subprocess that keeps running (`serve`, `sync watch`), with its output so far. */
export interface LongRunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with stdout once it matches, or rejects with everything printed if it does not in time. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

export function spawnCli(args: string[], env: Record<string, string | undefined>): LongRunningCli {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: REPO_ROOT,
    env: cliEnvironment(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  // "close", not "exit": it comes after stdout and stderr are read to the end, so no last line is missed.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStdout(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(stdout)) return false;
          clearTimeout(timer);
          child.stdout!.off("data", check);
          resolve(stdout);
          return true;
        };
        const timer = setTimeout(() => {
          child.stdout!.off("data", check);
          reject(new Error(`no ${pattern} on stdout within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeoutMs);
        if (!check()) child.stdout!.on("data", check);
      });
    },
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs `body` while the command runs, then sends it `signal` and resolves with its exit code. If `body` fails,
 * the command is killed and the failure passed on, so a test never leaves a process behind.
 */
export async function signalAfter(
  cli: LongRunningCli,
  signal: NodeJS.Signals,
  body: () => Promise<void>,
): Promise<number | null> {
  try {
    await body();
  } catch (err) {
    await cli.stop("SIGKILL");
    throw err;
  }
  return cli.stop(signal);
}

/** A loopback port nothing listens on (just now). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
