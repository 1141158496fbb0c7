import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./cli-process.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { PATIENT_START, REPO_ROOT, spawnServerProcess, type ServerProcess } from "./test-server.js";

/**
 * The topology of deploy/compose/compose.yaml on loopback, with the project's
 * own processes: one PostgreSQL database, N server processes on it, and
 * HAProxy (Debian's package) in front of them, configured by
 * deploy/haproxy/haproxy.cfg itself with only its server list and bind
 * address replaced. Used by test/fault/load-balancer.test.ts,
 * bench/load-balancer.bench.ts and scripts/replicas-demo.ts.
 */
export interface ReplicaFleet {
  database: TestDatabase;
  replicas: ServerProcess[];
  balancer: Balancer;
  /** The balancer's address: "http://127.0.0.1:<port>". */
  url: string;
  adminToken: string;
  stop(): Promise<void>;
}

export interface Balancer {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

export const HAPROXY_BINARY = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"].find((p) => existsSync(p));

const DEPLOYED_CONFIG = path.join(REPO_ROOT, "deploy/haproxy/haproxy.cfg");
const SERVERS_BLOCK = /^[ \t]*# servers:begin\n[\s\S]*?^[ \t]*# servers:end\n/gm;

/**
 * deploy/haproxy/haproxy.cfg with its first "servers" block replaced by `servers` (host:port each), its other
 * ones (DNS resolvers) dropped, the frontend bound to 127.0.0.1:`port`, and maxconn within a shell's file limit.
 */
export function haproxyConfigFor(servers: string[], port: number): string {
  const deployed = readFileSync(DEPLOYED_CONFIG, "utf8");
  let first = true;
  const config = deployed
    .replace(SERVERS_BLOCK, (block) => {
      const indent = /^[ \t]*/.exec(block)![0];
      if (!first) return "";
      first = false;
      return servers.map((s, i) => `${indent}server replica${i + 1} ${s}\n`).join("");
    })
    .replace(/^(\s*)bind :8080$/m, `$1bind 127.0.0.1:${port}`)
    // Two file descriptors a connection: the deployed 50,000 needs a higher open-file limit than a test shell has.
    .replace(/^(\s*)maxconn \d+$/m, "$1maxconn 4000");
  if (first || !config.includes(`bind 127.0.0.1:${port}`)) {
    throw new Error("deploy/haproxy/haproxy.cfg lost its servers block or its 'bind :8080' line");
  }
  return config;
}

/** Runs HAProxy in the foreground on `servers`; resolves once it accepts connections. */
export async function startBalancer(servers: string[]): Promise<Balancer> {
  if (!HAPROXY_BINARY) throw new Error("haproxy is not installed (apt-get install haproxy)");
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "engine-haproxy-"));
  const file = path.join(dir, "haproxy.cfg");
  writeFileSync(file, haproxyConfigFor(servers, port));
  const child: ChildProcess = spawn(HAPROXY_BINARY, ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = performance.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`haproxy did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // Replicas start DOWN until their checks pass (rise 2): traffic before that would get 503s.
  while (!out.includes(`${servers.length} active and`) && performance.now() < deadline + 10_000) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The settings every replica of the fleet shares (plus the database and the admin token). */
const FLEET_ENV = {
  // Every connection arrives from the balancer's address, as in the compose file.
  ENGINE_CLOUD_MAX_CONNECTIONS_PER_ADDRESS: "100000",
  // HAProxy multiplexes many clients' streams on each HTTP/2 connection to a replica, as in the compose file.
  ENGINE_CLOUD_HTTP2_MAX_STREAMS: "10000",
  ENGINE_CLOUD_HTTP2_MAX_SESSION_MEMORY_MIB: "256",
  ENGINE_CLOUD_SHUTDOWN_GRACE_MS: "2000",
};

/** `count` server processes on one fresh PostgreSQL database, HAProxy in front; needs ENGINE_TEST_POSTGRES_URL. */
export async function startReplicaFleet(
  count: number,
  adminToken: string,
  env: Record<string, string> = {},
): Promise<ReplicaFleet> {
  const database = await createTestDatabase("postgres");
  const shared = {
    ...FLEET_ENV,
    DATABASE_URL: database.databaseUrl!,
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    ...env,
  };
  // One first, so that the others find the database migrated and seeded.
  const replicas = [await spawnServerProcess(shared, [], PATIENT_START)];
  replicas.push(...(await Promise.all(Array.from({ length: count - 1 }, () => spawnServerProcess(shared, [], PATIENT_START)))));
  const balancer = await startBalancer(replicas.map((r) => new URL(r.url).host));
  return {
    database,
    replicas,
    balancer,
    url: `http://127.0.0.1:${balancer.port}`,
    adminToken,
    async stop() {
      await balancer.stop();
      await Promise.all(replicas.map((r) => r.stop()));
      await database.drop();
    },
  };
}
