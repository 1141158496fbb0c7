/**
 * The embedded database (PGlite) and the request thread: what fsync at commit
 * costs, and what a slow disk does to a call that touches no database, with
 * the database on the server's thread ("main", as before) or in a worker
 * thread of its own ("worker", the default now).
 *
 * For each mode (thread × fsync) a server process on a fresh data directory:
 *
 *   idle     health checks (no database) one after another: the floor;
 *   writes   --writers closed-loop writers (AllowProject: one transaction
 *            each) for --seconds, health checks every 10 ms beside them;
 *   slow     the same on a slow disk: the server restarted under strace,
 *            every write and fsync of the current WAL segment delayed by
 *            --delay-ms (skipped without strace);
 *   reads    ListTokens one after another (a database read per call): the
 *            cost of the hop to the worker thread.
 *
 *   npx tsx --conditions=source bench/embedded-io.bench.ts [flags]   (build first: npm run build)
 *
 * Loopback only; every loop bounded by time and count. Figures, no assertions.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { parseBenchFlags } from "./bench-flags.js";
import { percentile, runClosedLoop, summarize } from "./load.js";
import { fmt } from "./print.js";
import { newServerSecrets, startServerProcess, type ServerProcess } from "./server-process.js";

const USAGE = `usage: npx tsx --conditions=source bench/embedded-io.bench.ts [flags]
  --modes LIST     thread:fsync pairs (default main:off,main:on,worker:off,worker:on; main:off is the old default)
  --writers N      writers in flight (default 4)
  --seconds N      length of each measured phase (default 5)
  --delay-ms N     injected delay per WAL write/fsync in the slow phase (default 100)`;

const { flags, positiveInt, list, usageError } = parseBenchFlags(
  {
    modes: { type: "string", default: "main:off,main:on,worker:off,worker:on" },
    writers: { type: "string", default: "4" },
    seconds: { type: "string", default: "5" },
    "delay-ms": { type: "string", default: "100" },
    help: { type: "boolean" },
  },
  USAGE,
);
const writers = positiveInt("writers", flags.writers!);
const phaseMs = positiveInt("seconds", flags.seconds!) * 1000;
const delayMs = positiveInt("delay-ms", flags["delay-ms"]!);
const modes = list(flags.modes!).map((m) => {
  const [thread, fsync] = m.split(":");
  if (!["main", "worker"].includes(thread) || !["on", "off"].includes(fsync)) usageError(`--modes: "${m}" is not thread:fsync`);
  return { thread, fsync };
});
const hasStrace = spawnSync("strace", ["-V"]).status === 0;

interface PhaseFigures {
  writesPerSecond: number;
  writeP50Ms: number;
  healthP50Ms: number;
  healthP99Ms: number;
  healthMaxMs: number;
}

async function healthMs(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  await res.text();
  if (res.status !== 200) throw new Error(`health check answered HTTP ${res.status}`);
  return performance.now() - t0;
}

/** Health checks one after another, `gapMs` apart, until `done()` or the count bound. */
async function probeHealth(url: string, done: () => boolean, gapMs: number, max: number): Promise<number[]> {
  const samples: number[] = [];
  while (!done() && samples.length < max) {
    samples.push(await healthMs(url));
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  return samples.sort((a, b) => a - b);
}

let projectCounter = 0;

async function writePhase(server: ServerProcess, adminToken: string): Promise<PhaseFigures> {
  const admin = createCloudClient({ baseUrl: server.url, token: adminToken });
  let writing = true;
  const probes = probeHealth(server.url, () => !writing, 10, 100_000);
  const run = await runClosedLoop({ concurrency: writers, maxRequests: 100_000, maxDurationMs: phaseMs }, (_i, signal) =>
    admin.projects.allowProject({ name: `io-${++projectCounter}` }, { signal }),
  );
  writing = false;
  const health = await probes;
  const s = summarize([run]);
  if (s.errors > 0) throw new Error(`writes failed: ${String(run.firstError)}`);
  return {
    writesPerSecond: s.requestsPerSecond,
    writeP50Ms: s.p50Ms,
    healthP50Ms: percentile(health, 0.5),
    healthP99Ms: percentile(health, 0.99),
    healthMaxMs: health.at(-1) ?? NaN,
  };
}

function currentWalSegment(dataDir: string): string {
  const dir = path.join(dataDir, "pgdata", "pg_wal");
  return path.join(
    dir,
    readdirSync(dir)
      .filter((n) => /^[0-9A-F]{24}$/.test(n))
      .sort()
      .at(-1)!,
  );
}

const rows: string[][] = [];
for (const mode of modes) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "engine-cloud-bench-io-"));
  const secrets = newServerSecrets();
  const env = { ENGINE_CLOUD_EMBEDDED_THREAD: mode.thread, ENGINE_CLOUD_EMBEDDED_FSYNC: mode.fsync };
  try {
    const server = await startServerProcess({ dataDir, secrets, env });
    let idle: number[], reads: number[], writes: PhaseFigures;
    try {
      idle = await probeHealth(server.url, () => false, 0, 200);
      const admin = createCloudClient({ baseUrl: server.url, token: secrets.adminToken });
      await admin.tokens.listTokens({});
      const readRun = await runClosedLoop({ concurrency: 1, maxRequests: 2000, maxDurationMs: phaseMs / 2 }, (_i, signal) =>
        admin.tokens.listTokens({}, { signal }),
      );
      reads = Float64Array.from(readRun.latenciesMs).sort() as unknown as number[];
      writes = await writePhase(server, secrets.adminToken);
    } finally {
      await server.stop();
    }
    let slow: PhaseFigures | undefined;
    if (hasStrace) {
      const delayUs = delayMs * 1000;
      const launcher = ["strace", "-f", "-qq", "--seccomp-bpf", "-P", currentWalSegment(dataDir), "-o", "/dev/null"];
      launcher.push(
        "-e",
        "trace=pwrite64,write,fsync,fdatasync",
        "-e",
        `inject=pwrite64,write,fsync,fdatasync:delay_enter=${delayUs}`,
      );
      const traced = await startServerProcess({ dataDir, secrets, env, launcher });
      try {
        slow = await writePhase(traced, secrets.adminToken);
      } finally {
        await traced.stop();
      }
    }
    const label = `${mode.thread}, fsync ${mode.fsync}`;
    rows.push([
      label,
      fmt(percentile(idle, 0.5)),
      fmt(percentile(reads, 0.5)),
      fmt(writes.writesPerSecond, 1),
      fmt(writes.writeP50Ms),
      fmt(writes.healthP50Ms),
      fmt(writes.healthP99Ms),
      slow ? fmt(slow.writesPerSecond, 1) : "-",
      slow ? fmt(slow.healthP50Ms) : "-",
      slow ? fmt(slow.healthP99Ms) : "-",
      slow ? fmt(slow.healthMaxMs) : "-",
    ]);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const header = [
  "mode (thread, fsync)",
  "health idle p50 ms",
  "read p50 ms",
  "writes/s",
  "write p50 ms",
  "health p50 ms (writes)",
  "health p99 ms (writes)",
  `writes/s (slow disk ${delayMs} ms)`,
  "health p50 ms (slow)",
  "health p99 ms (slow)",
  "health max ms (slow)",
];
console.log(
  `\nembedded database I/O: ${writers} writers, ${phaseMs / 1000} s per phase, ${availableParallelism()} cores, ` +
    `load ${loadavg()[0].toFixed(1)}${hasStrace ? "" : " (no strace: slow-disk columns skipped)"}\n`,
);
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
