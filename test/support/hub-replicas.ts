import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import type { TestDatabase } from "./test-database.js";
import { PATIENT_START, spawnServerProcess, type ServerProcess } from "./test-server.js";

/**
 * N server processes on one database, as an operator runs replicas behind a
 * load balancer: each on a port of its own that it keeps across restarts (so a
 * runtime reconnects to the same address), all sharing one public URL — the
 * first replica's — for the OAuth callback. `output()` is everything every
 * life of every replica wrote, for the secret scan.
 */
export interface HubReplicas {
  readonly urls: string[];
  /** The running process of replica i. */
  process(i: number): ServerProcess;
  /** Process ids of the running replicas, by replica. */
  pids(): number[];
  kill9(i: number): Promise<void>;
  /** Starts replica i again on its port (after kill9). */
  restart(i: number): Promise<void>;
  /** Every line every replica wrote to stdout and stderr, across restarts. */
  output(): string;
  stop(): Promise<void>;
}

export async function startHubReplicas(options: {
  count: number;
  database: TestDatabase;
  adminToken: string;
  env?: Record<string, string>;
}): Promise<HubReplicas> {
  const ports = await freePorts(options.count);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const env = (i: number) => ({
    ENGINE_CLOUD_TOKEN: options.adminToken,
    ENGINE_CLOUD_DATA_DIR: options.database.dataDir,
    DATABASE_URL: options.database.databaseUrl ?? "",
    ENGINE_CLOUD_LISTEN: `127.0.0.1:${ports[i]}`,
    ENGINE_CLOUD_PUBLIC_URL: urls[0],
    ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1",
    ENGINE_CLOUD_LOG_LEVEL: "debug",
    ...options.env,
  });
  const lives: ServerProcess[] = [];
  const running: ServerProcess[] = [];
  const start = async (i: number) => {
    const p = await spawnServerProcess(env(i), [], PATIENT_START);
    lives.push(p);
    running[i] = p;
  };
  // One at a time: the first applies the migrations, the others find them applied.
  for (let i = 0; i < options.count; i++) await start(i);
  return {
    urls,
    process: (i) => running[i],
    pids: () => running.map((p) => p.child.pid!),
    kill9: (i) => running[i].kill9(),
    restart: start,
    output: () => lives.map((p) => p.output()).join("\n"),
    async stop() {
      await Promise.all(running.map((p) => p.stop()));
    },
  };
}

/** Ports free right now on loopback (the kernel's choice, released for the servers to take). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/**
 * Which of `pids` holds the TCP connection whose local port is `port` (the
 * client side of a call the authorization server received): the socket's
 * inode from /proc/net/tcp, then the process with that inode among its file
 * descriptors. Linux only; undefined when none of them does.
 */
export function processHoldingPort(port: number, pids: number[]): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[1].endsWith(`:${hex}`)) inodes.add(cols[9]);
    }
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}
