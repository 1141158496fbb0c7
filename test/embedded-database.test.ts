import { spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { describe, expect, it } from "vitest";
import { perTestCleanup } from "./support/per-test-cleanup.js";
import { onPostgres, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, startTestServer, type ServerProcess } from "./support/test-server.js";

// Each test starts servers on a database of its own and stops them itself.
const { defer, freshDatabase } = perTestCleanup();

/** Servers take seconds to start (PGlite initialises its data directory), tens of them under load. */
const SPAWNED_SERVER_MS = 180_000;

/** Every path under root whose mode lets anyone but the owner in, with its mode. */
function tooOpen(root: string): string[] {
  const found: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    const mode = st.mode & 0o7777;
    if (st.isDirectory() ? mode !== 0o700 : st.isFile() && mode !== 0o600) found.push(`${mode.toString(8)} ${p}`);
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return found;
}

/** What an embedded database's directory looked like before modes were restricted. */
function loosen(root: string): void {
  const st = lstatSync(root);
  chmodSync(root, st.isDirectory() ? 0o755 : 0o666);
  if (st.isDirectory()) for (const name of readdirSync(root)) loosen(path.join(root, name));
}

/** ENGINE_CLOUD_MASTER_KEY empty: the root key is generated into the data directory, as by default. */
const embeddedDefaults = { ENGINE_CLOUD_MASTER_KEY: "" };

describe.skipIf(onPostgres)("embedded data directory modes", () => {
  it(
    "creates a fresh data directory owner-only: every directory 0700, every file 0600, the root key file too",
    { timeout: SPAWNED_SERVER_MS },
    async () => {
      const database = await freshDatabase();
      const srv = await startTestServer({ database, env: embeddedDefaults });
      defer(() => srv.stop());
      await srv.admin().projects.allowProject({ name: "modes-fresh" });

      expect(tooOpen(database.dataDir)).toEqual([]);
      expect(lstatSync(path.join(database.dataDir, "master.key")).mode & 0o7777).toBe(0o600);
    },
  );

  it(
    "makes an existing 0755/0666 data directory owner-only at start and says so once in the log",
    { timeout: SPAWNED_SERVER_MS },
    async () => {
      const database = await freshDatabase();
      const first = await startTestServer({ database, env: embeddedDefaults });
      await first.stop();
      loosen(database.dataDir);

      const second = await startTestServer({ database, env: { ...embeddedDefaults, ENGINE_CLOUD_TOKEN: first.adminToken } });
      defer(() => second.stop());
      await second.admin().projects.allowProject({ name: "modes-fixed" });

      expect(tooOpen(database.dataDir)).toEqual([]);
      const told = second.logs.filter((l) => l.includes("made it owner-only"));
      expect(told).toHaveLength(1);
      expect(JSON.parse(told[0])).toMatchObject({ level: "warn", data_dir: database.dataDir });
    },
  );
});

const hasStrace = spawnSync("strace", ["-V"]).status === 0;

/** The server under strace (the child is strace, the server its child), and a platform admin client of it. */
async function spawnTraced(
  database: TestDatabase,
  strace: string[],
  env: Record<string, string> = {},
  token = randomSeedToken(),
) {
  const server = await spawnServerProcess({ ENGINE_CLOUD_DATA_DIR: database.dataDir, ENGINE_CLOUD_TOKEN: token, ...env }, [], {
    startTimeoutMs: SPAWNED_SERVER_MS / 2,
    launcher: ["strace", "-f", "-qq", "--seccomp-bpf", ...strace],
  });
  defer(() => stopTraced(server));
  return { server, admin: createCloudClient({ baseUrl: server.url, token }) };
}

/**
 * SIGTERM to strace would leave the server running: end the server, strace follows. SIGKILL, because the
 * assertions are made by then and a graceful stop writes (presence, leases of every background job) at a
 * second a write under the injected delay — longer than any hook may wait; the data directory is scratch.
 */
async function stopTraced(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const pid = server.child.pid!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  for (const child of children) process.kill(Number(child), "SIGKILL");
  await server.stop();
}

const scratchDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-strace-"));
  defer(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const walFsyncs = (traceFile: string) =>
  readFileSync(traceFile, "utf8")
    .split("\n")
    .filter((l) => /\bfsync\(\d+<[^>]*\/pg_wal\/[0-9A-F]{24}>\) = 0/.test(l)).length;

/** The newest WAL segment: where every commit's record is written. */
function currentWalSegment(database: TestDatabase): string {
  const dir = path.join(database.dataDir, "pgdata", "pg_wal");
  const segments = readdirSync(dir)
    .filter((n) => /^[0-9A-F]{24}$/.test(n))
    .sort();
  return path.join(dir, segments.at(-1)!);
}

/** A call that touches no database: the standard health check, over Connect's JSON, timed. */
async function healthCheckMs(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await res.text();
  expect(res.status).toBe(200);
  return performance.now() - started;
}

/** ENGINE_TEST_EMBEDDED_THREAD=main shows the slow-disk test failing with the database on the request thread. */
const threadEnv: Record<string, string> = process.env.ENGINE_TEST_EMBEDDED_THREAD
  ? { ENGINE_CLOUD_EMBEDDED_THREAD: process.env.ENGINE_TEST_EMBEDDED_THREAD }
  : {};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe.skipIf(onPostgres || !hasStrace)("embedded database durability and threads (under strace)", () => {
  it(
    "fsyncs the write-ahead log before it acknowledges each write",
    async () => {
      const database = await freshDatabase();
      const traceFile = path.join(scratchDir(), "fsync.trace");
      const { admin } = await spawnTraced(database, ["-y", "-e", "trace=fsync,fdatasync", "-o", traceFile]);

      const writes = 5;
      for (let i = 0; i < writes; i++) {
        const before = walFsyncs(traceFile);
        await admin.projects.allowProject({ name: `durable-${i}` });
        // Counted as soon as the call is answered: the fsync happened before the acknowledgement.
        expect(walFsyncs(traceFile) - before).toBeGreaterThanOrEqual(1);
      }
    },
    SPAWNED_SERVER_MS,
  );

  it(
    "answers a call that touches no database while every write to the log takes a second",
    async () => {
      const database = await freshDatabase();
      // Initialise the data directory first, untraced: it writes thousands of files.
      const token = randomSeedToken();
      const first = await spawnServerProcess({ ENGINE_CLOUD_DATA_DIR: database.dataDir, ENGINE_CLOUD_TOKEN: token }, [], {
        startTimeoutMs: SPAWNED_SERVER_MS / 2,
      });
      await first.stop();

      const delayUs = 1_000_000;
      const { server, admin } = await spawnTraced(
        database,
        [
          "-P",
          currentWalSegment(database),
          "-e",
          "trace=pwrite64,write,fsync,fdatasync",
          "-e",
          `inject=pwrite64,write,fsync,fdatasync:delay_enter=${delayUs}`,
          "-o",
          "/dev/null",
        ],
        threadEnv,
        token,
      );

      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing && i < 30; i++) await admin.projects.allowProject({ name: `slow-disk-${i}` });
      })();
      writer.catch(() => {}); // a failed write is reported by the await below, after the probes
      const probes: number[] = [];
      try {
        await new Promise((r) => setTimeout(r, 300)); // the first write is under way
        for (let i = 0; i < 9; i++) {
          probes.push(await healthCheckMs(server.url));
          await new Promise((r) => setTimeout(r, 150));
        }
      } finally {
        writing = false;
        await writer;
      }
      // On the request thread, each commit would stall every call for about a second.
      expect(median(probes)).toBeLessThan(delayUs / 1000 / 2);
    },
    SPAWNED_SERVER_MS,
  );
});
