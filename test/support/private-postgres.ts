import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of the test's own (initdb into a temp dir, on a free
 * loopback port), so a test may kill -9 or stop its database: the shared
 * cluster on 5432 is never touched. Fsync and synchronous commit stay on, as
 * in production, so a crash test proves what an operator would get.
 */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** A fresh database of the cluster, by URL. */
  createDatabase(name: string): Promise<string>;
  /** SIGKILL to the postmaster and every backend at once (a machine losing power, as far as PostgreSQL knows). */
  kill9(): Promise<void>;
  /** Starts the cluster again on the same port and data; crash recovery runs first. */
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  destroy(): Promise<void>;
}

/** The newest PostgreSQL server binaries installed (/usr/lib/postgresql/<major>/bin). */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const m of majors) if (existsSync(path.join(root, m, "bin", "initdb"))) return path.join(root, m, "bin");
  throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
}

/** initdb and postgres refuse to run as root: as root, run them as the postgres user. */
const asOwner = (cmd: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The cluster's processes: the postmaster (from its pid file) and its children. */
function clusterPids(dataDir: string): number[] {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return [];
  const postmaster = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  const children = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1].split(" ")[1]) === postmaster;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmaster, ...children];
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-pg-"));
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dataDir, Number(stdout), Number(gid));
  }
  const port = await freePort();
  await run(...asOwner(path.join(bin, "initdb"), ["-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync"]));
  const pgCtl = (...args: string[]) => run(...asOwner(path.join(bin, "pg_ctl"), ["-D", dataDir, ...args]));
  const options = `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c max_connections=60`;
  const start = async () => {
    await pgCtl("-o", options, "-l", path.join(dataDir, "server.log"), "-w", "-t", "60", "start");
  };
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async createDatabase(name) {
      const pg = (await import("pg")).default;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`CREATE DATABASE ${name}`);
      await c.end();
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async kill9() {
      const pids = clusterPids(dataDir);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      // A restart while any of them lives fails ("lock file already exists", or shared memory still in use).
      const deadline = Date.now() + 10_000;
      while (pids.some(alive)) {
        if (Date.now() > deadline) throw new Error(`PostgreSQL processes ${pids.filter(alive)} outlived SIGKILL`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    start,
    async destroy() {
      await pgCtl("-m", "immediate", "stop").catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
