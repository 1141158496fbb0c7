import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createCloudClient } from "@engine-cloud/sdk/node";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** What every server of one run shares. */
export interface ServerSecrets {
  /** ENGINE_CLOUD_TOKEN: seeds the platform admin on an empty database. */
  adminToken: string;
  /** ENGINE_CLOUD_MASTER_KEY: the root key; servers on one database must share it. */
  masterKey: string;
}

export function newServerSecrets(): ServerSecrets {
  return { adminToken: randomBytes(32).toString("hex"), masterKey: randomBytes(32).toString("hex") };
}

export interface ServerEnvironmentOptions {
  /** PostgreSQL URL; absent means PGlite in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  secrets: ServerSecrets;
  /** host:port; "127.0.0.1:0" lets the server choose. */
  listen: string;
  logLevel: "info" | "warn";
}

/**
 * Benches drive one token far past the default request rates and streams: these put the limits out of reach
 * (the largest value a limit takes). The check still runs on every call (limits/limiter.ts), it just never
 * refuses; bench/noisy-tenant.bench.ts sets its tenants' own.
 */
export const BENCH_LIMITS: Record<string, string> = {
  ...Object.fromEntries(
    ["TOKEN_REQUESTS_PER_SECOND", "TENANT_REQUESTS_PER_SECOND", "TOKEN_STREAMS", "TENANT_STREAMS"].map((n) => [
      `ENGINE_CLOUD_LIMIT_${n}`,
      "1000000000",
    ]),
  ),
  // Every bench client connects from 127.0.0.1: thousands of streams, one connection each, from one address.
  ENGINE_CLOUD_MAX_CONNECTIONS_PER_ADDRESS: "1000000",
};

/** The server's configuration, as environment variables, for a process or for loadConfig in this one. */
export function serverEnvironment(o: ServerEnvironmentOptions): Record<string, string> {
  return {
    ENGINE_CLOUD_LISTEN: o.listen,
    ENGINE_CLOUD_TOKEN: o.secrets.adminToken,
    ENGINE_CLOUD_MASTER_KEY: o.secrets.masterKey,
    ENGINE_CLOUD_LOG_LEVEL: o.logLevel,
    ENGINE_CLOUD_DATA_DIR: o.dataDir,
    ENGINE_CLOUD_ALLOWED_PROJECTS: "bench",
    ...BENCH_LIMITS,
    ...(o.databaseUrl ? { DATABASE_URL: o.databaseUrl } : {}),
  };
}

export interface ServerProcessOptions {
  /** PostgreSQL URL; absent means PGlite in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  secrets: ServerSecrets;
  /**
   * "warn" by default: at "info" the server writes one JSON line per call
   * (transport/request-log.ts), which is then part of what is measured.
   */
  logLevel?: "info" | "warn";
  /** Writes a V8 CPU profile of the server into this directory on exit. */
  cpuProfileDir?: string;
  /** Further environment for the server process (e.g. ENGINE_CLOUD_PASSWORD_HASH_LOG_N, UV_THREADPOOL_SIZE). */
  env?: Record<string, string>;
  /** A command the server runs under, e.g. ["strace", "-f", …]; stop() then signals the server, not it. */
  launcher?: string[];
}

export interface ServerProcess {
  url: string;
  pid: number;
  /** SIGTERM, then wait (bounded) for the process to exit. */
  stop(): Promise<void>;
}

/**
 * The server as its own OS process, as in production, so the load generator's
 * event loop and the server's do not share a thread.
 */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  // At "warn" the server never prints its "listening" line, so choose the port
  // here. Another process could take it in between; then startup fails loudly.
  const port = await pickFreePort();
  const url = `http://127.0.0.1:${port}`;
  const nodeArgs = ["--import", "tsx", "--conditions=source"];
  if (options.cpuProfileDir) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`);
  const [command, ...args] = [
    ...(options.launcher ?? []),
    process.execPath,
    ...nodeArgs,
    path.join(REPO_ROOT, "packages/server/src/main.ts"),
  ];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      ...pick(process.env, ["PATH", "HOME", "TMPDIR"]),
      ...serverEnvironment({ ...options, listen: `127.0.0.1:${port}`, logLevel: options.logLevel ?? "warn" }),
      ...options.env,
    },
    // stdout is /dev/null: at "info" the server still formats and writes its per-call
    // lines, as in production, but nothing here has to read them.
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = once(child, "exit");
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  let stopping = false;
  // A server that dies mid-run turns every later figure into errors; say why at once.
  child.on("exit", (code, signal) => {
    if (!stopping) console.error(`\nthe server process exited during the run (code ${code}, signal ${signal}):\n${stderr}`);
  });

  const ready = await waitUntilServing(url, hasExited);
  if (!ready) {
    stopping = true;
    child.kill("SIGKILL");
    throw new Error(`server did not start on ${url}:\n${stderr}`);
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      stopping = true;
      if (hasExited()) return;
      // Under a launcher the server is its child; the launcher exits after it.
      if (options.launcher) for (const pid of childrenOf(child.pid!)) process.kill(pid, "SIGTERM");
      else child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
  return text.split(/\s+/).filter(Boolean).map(Number);
}

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (env[n] === undefined ? [] : [[n, env[n]!]])));
}

/** A free loopback port, for a server that must come back on the same port after a restart. */
export async function pickFreePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, "close");
  return port;
}

/** Polls the public GetServerInfo until it answers, the process exits, or the start timeout passes. */
async function waitUntilServing(url: string, hasExited: () => boolean): Promise<boolean> {
  const client = createCloudClient({ baseUrl: url });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let attempt = 0; attempt < START_TIMEOUT_MS / 100 && Date.now() < deadline && !hasExited(); attempt++) {
    try {
      await client.server.getServerInfo({}, { timeoutMs: 1000 });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}

let clockTicksPerSecond: number | undefined;

/**
 * User + system CPU time a process has used so far (ms), from /proc; NaN where
 * there is no /proc. Ticks are 10 ms apart, so read it around runs of many calls.
 */
export function processCpuMs(pid: number): number {
  try {
    // The command name (field 2) may hold spaces; the fields after it are fixed.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    clockTicksPerSecond ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}
