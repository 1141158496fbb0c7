/**
 * The soak benchmark: many Watch streams held open for minutes while writes
 * arrive at a steady rate. Every window it reports the fan-out of one change
 * (commit → every stream, p50/p99/max), streams that never got it, streams that
 * ended and reconnected, the write latency and errors, and the server's
 * resident memory, so a leak or a slow drift shows as a trend, not a point.
 *
 *   npx tsx --conditions=source bench/soak.bench.ts [--postgres URL] [flags]
 *
 * The full run is 5,000 streams and 200 writes/s for 10 minutes; `ulimit -n`
 * must be above the stream count. Loopback only; every wait is bounded.
 * Figures are printed, never asserted: this is not a test.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

// Workspace packages resolve to their TypeScript sources only under the "source" condition.
if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { createCloudClient } = await import("@engine-cloud/sdk/node");
const { CredentialType, TokenKind } = await import("@engine-cloud/api");
const { parseBenchFlags } = await import("./bench-flags.js");
const { createBenchDatabase } = await import("./bench-database.js");
const { newServerSecrets, startServerProcess } = await import("./server-process.js");
const { ClientFleet } = await import("./client-fleet.js");
const { wallClockMs } = await import("./fanout-client.js");

const USAGE = `usage: tsx --conditions=source bench/soak.bench.ts [flags]
  --postgres URL     run on PostgreSQL (a fresh database on that server, dropped after); default PGlite
  --streams N        Watch streams held open, one HTTP/2 connection each (default 5000)
  --rate N           credential writes per second (default 200)
  --duration S       seconds of writing (default 600)
  --window S         seconds per reported window (default 30)
  --processes N      client processes the streams are split over (default 4)
  --tokens N         distinct runtime tokens the streams use (default 100)
  --credentials N    distinct credentials the writes cycle over (default 200)`;

const { flags, positiveInt } = parseBenchFlags(
  {
    postgres: { type: "string" },
    streams: { type: "string", default: "5000" },
    rate: { type: "string", default: "200" },
    duration: { type: "string", default: "600" },
    window: { type: "string", default: "30" },
    processes: { type: "string", default: "4" },
    tokens: { type: "string", default: "100" },
    credentials: { type: "string", default: "200" },
    help: { type: "boolean", default: false },
  },
  USAGE,
);
const streams = positiveInt("streams", flags.streams!);
const rate = positiveInt("rate", flags.rate!);
const durationMs = positiveInt("duration", flags.duration!) * 1000;
const windowMs = positiveInt("window", flags.window!) * 1000;
const processes = Math.min(positiveInt("processes", flags.processes!), streams);
const tokenCount = positiveInt("tokens", flags.tokens!);
const credentialCount = positiveInt("credentials", flags.credentials!);

const PROJECT = "bench";
/** Writes in flight at most: past this the writer falls behind its rate and says so. */
const MAX_IN_FLIGHT = 64;
const COLLECT_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
};
const quantile = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN;

interface Window {
  endSeconds: number;
  writes: number;
  writeErrors: number;
  writeP99: number;
  fanoutP50: number;
  fanoutP99: number;
  fanoutMax: number;
  missing: number;
  reconnects: number;
  serverRssMb: number;
  load: number;
}

const database = await createBenchDatabase(flags.postgres);
const secrets = newServerSecrets();
const server = await startServerProcess({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, secrets });
const fleet = new ClientFleet(streams, processes, {
  project: PROJECT,
  openTimeoutMs: 300_000,
  collectTimeoutMs: COLLECT_TIMEOUT_MS,
});
try {
  const admin = createCloudClient({ baseUrl: server.url, token: secrets.adminToken });
  const tokens: string[] = [];
  for (let i = 0; i < tokenCount; i++) {
    tokens.push((await admin.tokens.createToken({ label: `soak-${i}`, kind: TokenKind.RUNTIME })).secret);
  }
  const put = (i: number, value: string) =>
    admin.credentials.putCredential({
      project: PROJECT,
      provider: "soak",
      alias: `c-${i % credentialCount}`,
      type: CredentialType.API_KEY,
      keys: { api_key: { value } },
    });
  let revision = 0;
  for (let i = 0; i < credentialCount; i++) revision = Number((await put(i, "seed")).credential!.revision);

  console.log(
    `soak: ${streams} streams (${processes} client processes), ${rate} writes/s for ${durationMs / 1000} s on ${database.kind}`,
  );
  const t0 = performance.now();
  const opened = await fleet.open(server.url, tokens, 0);
  console.log(
    `soak: ${opened.caughtUp} streams caught up in ${fmt((performance.now() - t0) / 1000)} s` +
      (opened.failed ? `, ${opened.failed} failed (${opened.firstError ?? "timeout"})` : ""),
  );
  // From now on a stream that ends reopens from where the run started, as a runtime would.
  fleet.tell({ type: "reconnect", since: revision, maxBackoffMs: 5000, keep: true });
  const rssAtStart = rssMb(server.pid);

  // The writer: write i is due at start + i/rate; a write that fails counts as an error.
  let written = 0;
  let writeErrors = 0;
  let inFlight = 0;
  let behind = 0;
  let last = { revision, ackedAt: wallClockMs() };
  let latencies: number[] = [];
  const started = performance.now();
  const writing = (async () => {
    for (let i = 0; performance.now() - started < durationMs; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (inFlight >= MAX_IN_FLIGHT) {
        // This write is skipped, and counted: the server is not keeping up with the rate.
        behind++;
        await sleep(1);
        continue;
      }
      inFlight++;
      const sent = performance.now();
      put(i, `v-${i}`)
        .then(({ credential }) => {
          written++;
          latencies.push(performance.now() - sent);
          const r = Number(credential!.revision);
          if (r > last.revision) last = { revision: r, ackedAt: wallClockMs() };
        })
        .catch(() => writeErrors++)
        .finally(() => inFlight--);
    }
  })();

  // Every window: the fan-out of the last write acknowledged, as every stream received it.
  const windows: Window[] = [];
  let writesBefore = 0;
  let errorsBefore = 0;
  for (let w = 1; w * windowMs <= durationMs; w++) {
    await sleep(started + w * windowMs - performance.now());
    const sample = last;
    const windowLatencies = latencies.sort((a, b) => a - b);
    latencies = [];
    const got = await fleet.collect(sample.revision);
    const fanout = got.times.map((at) => at - sample.ackedAt).sort((a, b) => a - b);
    const row: Window = {
      endSeconds: (w * windowMs) / 1000,
      writes: written - writesBefore,
      writeErrors: writeErrors - errorsBefore,
      writeP99: quantile(windowLatencies, 0.99),
      fanoutP50: quantile(fanout, 0.5),
      fanoutP99: quantile(fanout, 0.99),
      fanoutMax: fanout[fanout.length - 1] ?? NaN,
      missing: got.missing,
      reconnects: got.reconnects,
      serverRssMb: rssMb(server.pid),
      load: loadavg()[0],
    };
    writesBefore = written;
    errorsBefore = writeErrors;
    windows.push(row);
    console.log(
      `soak: ${row.endSeconds} s: ${row.writes} writes (${row.writeErrors} errors, p99 ${fmt(row.writeP99)} ms), ` +
        `fan-out p50 ${fmt(row.fanoutP50)} p99 ${fmt(row.fanoutP99)} max ${fmt(row.fanoutMax)} ms, ${row.missing} missing, ` +
        `${row.reconnects} reconnects, server RSS ${fmt(row.serverRssMb, 0)} MB`,
    );
  }
  await writing;
  while (inFlight > 0) await sleep(50);

  console.log(
    `\n| end (s) | writes | write errors | write p99 ms | fan-out p50 ms | fan-out p99 ms | fan-out max ms | streams missing | reconnects (total) | server RSS MB | load |`,
  );
  console.log(`|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const r of windows) {
    console.log(
      `| ${r.endSeconds} | ${r.writes} | ${r.writeErrors} | ${fmt(r.writeP99)} | ${fmt(r.fanoutP50)} | ${fmt(r.fanoutP99)} | ${fmt(r.fanoutMax)} | ` +
        `${r.missing} | ${r.reconnects} | ${fmt(r.serverRssMb, 0)} | ${fmt(r.load)} |`,
    );
  }
  const rssEnd = windows.at(-1)?.serverRssMb ?? NaN;
  console.log(
    `\nsoak: ${written} writes acknowledged, ${writeErrors} failed, ${behind} skipped (${MAX_IN_FLIGHT} in flight); ` +
      `server RSS ${fmt(rssAtStart, 0)} → ${fmt(rssEnd, 0)} MB (${fmt(rssEnd - rssAtStart, 0)} MB); ` +
      `${windows.at(-1)?.reconnects ?? 0} stream reconnects`,
  );
} finally {
  await fleet.close();
  await server.stop();
  await database.drop();
}
