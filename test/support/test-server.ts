import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient, type CloudClientOptions } from "@engine-cloud/sdk/node";
import { createLogger, loadConfig, startServer, type Config, type RefreshClock, type RunningServer } from "@engine-cloud/server";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface TestServer {
  url: string;
  /** The seeded platform admin token (ENGINE_CLOUD_TOKEN). */
  adminToken: string;
  /** Every log line the server wrote, to check that no secret ever appears. */
  logs: string[];
  server: RunningServer;
  database: TestDatabase;
  client(token?: string, options?: Partial<CloudClientOptions>): CloudClient;
  /** A client acting as the platform admin, in the named tenant. */
  admin(tenant?: string): CloudClient;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  /** Reuse a database (a second server on the same data); default: a fresh one. */
  database?: TestDatabase;
  configure?: (config: Config) => void;
  /** The refresh engine's clock, to drive its schedule ahead (createApp's seams). */
  hubClock?: RefreshClock;
}

/** The root key every test server uses unless a test sets its own (tests of key handling do). */
export const TEST_MASTER_KEY = randomBytes(32).toString("base64");

export function randomSeedToken(): string {
  return randomBytes(32).toString("hex");
}

/** The real server, in this process, on a free loopback port. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase());
  const adminToken = options.env?.ENGINE_CLOUD_TOKEN ?? randomSeedToken();
  const env: Record<string, string> = {
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_LISTEN: "127.0.0.1:0",
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    ENGINE_CLOUD_SHUTDOWN_GRACE_MS: "2000",
    ENGINE_CLOUD_MASTER_KEY: TEST_MASTER_KEY,
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...options.env,
  };
  const config = loadConfig([], env);
  options.configure?.(config);
  const logs: string[] = [];
  const server = await startServer(
    config,
    createLogger("debug", (line) => logs.push(line)),
    { hubClock: options.hubClock },
  );
  const client = (token?: string, o?: Partial<CloudClientOptions>) => createCloudClient({ baseUrl: server.url, token, ...o });
  return {
    url: server.url,
    adminToken,
    logs,
    server,
    database,
    client,
    admin: (tenant?: string) => client(adminToken, { tenant }),
    async stop() {
      await server.stop();
      if (!options.database) await database.drop();
    },
  };
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

/**
 * Starts the built server (packages/server/dist, rebuilt by the test run's
 * global setup) as its own OS process: as an operator runs it, and seconds
 * faster to start than compiling the sources on the fly.
 */
export function spawnServer(
  env: Record<string, string>,
  args: string[] = [],
  /** A command the server runs under, e.g. ["strace", "-f", "-o", file]. */
  launcher: string[] = [],
): ChildProcessByStdio<null, Readable, Readable> {
  const [command, ...rest] = [...launcher, process.execPath, path.join(REPO_ROOT, "packages/server/dist/main.js"), ...args];
  return spawn(command, rest, {
    cwd: REPO_ROOT,
    env: { ...process.env, ENGINE_CLOUD_LISTEN: "127.0.0.1:0", ENGINE_CLOUD_MASTER_KEY: TEST_MASTER_KEY, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * The real server as a separate OS process (for multi-process and kill -9 tests).
 * `startTimeoutMs` bounds the start (the fault suite, restarting servers on a busy
 * machine, allows more than the default); `launcher` runs it under another program (strace).
 */
export async function spawnServerProcess(
  env: Record<string, string>,
  args: string[] = [],
  { startTimeoutMs = 30_000, launcher = [] }: { startTimeoutMs?: number; launcher?: string[] } = {},
): Promise<ServerProcess> {
  const child = spawnServer(env, args, launcher);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start within ${startTimeoutMs} ms:\n${out}`)),
      startTimeoutMs,
    );
    const onData = () => {
      const m = /"msg":"listening","url":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        // Searching the whole output again on every later chunk would cost a long-lived server's test dearly.
        child.stdout!.off("data", onData);
        resolve(m[1]);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
    async kill9() {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** For suites that restart servers again and again (the fault suite): starts on a busy machine take longer. */
export const PATIENT_START = { startTimeoutMs: 90_000 } as const;
