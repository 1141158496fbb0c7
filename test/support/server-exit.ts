import { spawnServer } from "./test-server.js";

export interface ServerExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the server as a separate OS process that is expected to stop by itself
 * (a refused configuration), and returns its exit code and both output streams
 * apart. spawnServerProcess is for servers that start; this is for those that
 * must not. It starts the server exactly as spawnServerProcess does.
 */
export function runServerUntilExit(env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<ServerExit> {
  const child = spawnServer(env, args);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the server did not exit within ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
