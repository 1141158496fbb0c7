/**
 * The connector hub's refresh benchmark: thousands of connections with short-lived access tokens refreshed by three
 * server processes on one PostgreSQL database against the loopback authorization server (oidc-provider, rotating
 * refresh tokens).
 *
 *   npm run bench -- hub-refresh [--postgres URL] [flags]
 *
 * Seeding, `--seed direct` (the default): each account's grant is minted at the authorization server (its own grant,
 * access and refresh token, as a code exchange stores them) and each connection written by the server's own store
 * function (store/connections.ts writeGrant, tokens sealed under the tenant's data key), due at a random point of its
 * first lifetime; the hub's first refresh of each then publishes its credential. `--seed connect` instead runs every
 * connection through the real connect flow (StartConnect, the provider's login and consent played over HTTP, the
 * callback exchanging the code), as an admin's would: honest, and 2–4 a second on a shared machine. Then, while
 * the hub refreshes on its own schedule, it measures refreshes per second sustained, the lead time each refresh left
 * before the old token's expiry (p50/p99/min, as the provider saw it), token-endpoint calls per committed refresh
 * (target exactly 1.00), database statements per refresh (the servers' own count, engine_cloud_db_statements_total),
 * transactions and row writes (pg_stat_database, pg_stat_user_tables), and the CPU the servers spent. A
 * runtime fan-out in another tenant (Watch streams through the three servers, one credential put at a time) is timed
 * before the connections exist and again while they refresh: the cost of the hub to runtimes beside it.
 *
 * The authorization server and the fan-out runtimes run in this process; the servers in their own. Figures, not
 * assertions; docs/BENCHMARKS.md ("Connector hub: refresh at scale") records a run.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { availableParallelism, loadavg } from "node:os";
import { parseBenchFlags } from "./bench-flags.js";

const USAGE = `usage: npm run bench -- hub-refresh [flags]
  --postgres URL            PostgreSQL server (a fresh database on it, dropped after; default postgres://postgres@127.0.0.1:5432/test)
  --connections N           connections seeded through the connect flow (default 10000)
  --processes N             server processes (default 3)
  --lifetime S              access-token lifetime in seconds (default 120: W = 60 s, one refresh a minute each)
  --measure S               the measured window, after seeding and half a lifetime of warm-up (default 120)
  --tenants N               tenants the connections are spread over, round robin (default 1; --seed direct only)
  --provider-concurrency N  ENGINE_CLOUD_HUB_PROVIDER_CONCURRENCY of each server (default 5, the server's)
  --seed direct|connect     how connections are seeded (default direct: minted grants, rows by the store's own function)
  --connect-concurrency N   connect flows in flight while seeding with --seed connect (default 16)
  --runtimes N              Watch streams of the fan-out tenant (default 200)
  --changes N               credential puts timed per fan-out phase (default 40)
  --poll-ms MS              ENGINE_CLOUD_HUB_POLL_MS of each server (default 1000)
  --batch N                 ENGINE_CLOUD_HUB_BATCH_SIZE: connections one poll claims (default 200)`;

if (!import.meta.resolve("@engine-cloud/sdk").includes("/src/")) {
  const again = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  process.exit(again.status ?? 1);
}

const { createCloudClient } = await import("@engine-cloud/sdk/node");
const { CredentialType, TokenKind } = await import("@engine-cloud/api");
const { createBenchDatabase } = await import("./bench-database.js");
const { fmt } = await import("./print.js");
const { summarizeLatencies } = await import("./revocation-latency.js");
const { newServerSecrets, processCpuMs, startServerProcess } = await import("./server-process.js");
const { startLoopbackAuthorizationServer } = await import("../test/support/loopback-authorization-server.js");
const { connectLoopbackAccount, registerLoopbackApp } = await import("../test/support/hub-connections.js");
const pg = (await import("pg")).default;
type CloudClient = import("@engine-cloud/sdk").CloudClient;

const { flags, positiveInt } = parseBenchFlags(
  {
    postgres: { type: "string", default: "postgres://postgres@127.0.0.1:5432/test" },
    connections: { type: "string", default: "10000" },
    processes: { type: "string", default: "3" },
    lifetime: { type: "string", default: "120" },
    measure: { type: "string", default: "120" },
    "connect-concurrency": { type: "string", default: "16" },
    seed: { type: "string", default: "direct" },
    tenants: { type: "string", default: "1" },
    "provider-concurrency": { type: "string", default: "5" },
    runtimes: { type: "string", default: "200" },
    changes: { type: "string", default: "40" },
    "poll-ms": { type: "string", default: "1000" },
    batch: { type: "string", default: "200" },
    help: { type: "boolean" },
  },
  USAGE,
);
const config = {
  connections: positiveInt("connections", flags.connections!),
  processes: positiveInt("processes", flags.processes!),
  lifetimeS: positiveInt("lifetime", flags.lifetime!),
  measureS: positiveInt("measure", flags.measure!),
  connectConcurrency: positiveInt("connect-concurrency", flags["connect-concurrency"]!),
  runtimes: positiveInt("runtimes", flags.runtimes!),
  changes: positiveInt("changes", flags.changes!),
  pollMs: positiveInt("poll-ms", flags["poll-ms"]!),
  batch: positiveInt("batch", flags.batch!),
  seed: flags.seed === "connect" ? ("connect" as const) : ("direct" as const),
  tenants: positiveInt("tenants", flags.tenants!),
  providerConcurrency: positiveInt("provider-concurrency", flags["provider-concurrency"]!),
};
if (flags.seed !== "direct" && flags.seed !== "connect") {
  console.error(`--seed must be direct or connect\n${USAGE}`);
  process.exit(2);
}
const PROJECT = "bench";
const CHANGE_EVERY_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

console.log(
  `hub refresh · ${config.connections} connections · ${config.processes} server processes on PostgreSQL · ` +
    `${config.lifetimeS}-s access tokens (rotating refresh tokens) · poll ${config.pollMs} ms, batch ${config.batch}, ` +
    `provider concurrency ${config.providerConcurrency} · ${config.seed === "direct" ? config.tenants : 1} tenant(s) · ` +
    `${availableParallelism()} cores · ` +
    `load ${loadavg()[0].toFixed(2)} · ${new Date().toISOString()}`,
);

// ——— the authorization server: every grant's time, so each refresh's lead over the old token's expiry is known ———

/** account → when its current access token expires (ms), as the provider issued it. */
const expiryOf = new Map<string, number>();
const leadsMs: number[] = [];
let measuring = false;
const database = await createBenchDatabase(flags.postgres);
const secrets = newServerSecrets();
/** The servers' /metrics, for the statements each sent (engine_cloud_db_statements_total). */
const METRICS_TOKEN = randomBytes(24).toString("hex");
const servers: Array<Awaited<ReturnType<typeof startServerProcess>>> = [];
const stats = new pg.Client({ connectionString: database.databaseUrl });
let auth: Awaited<ReturnType<typeof startLoopbackAuthorizationServer>> | undefined;
try {
  for (let i = 0; i < config.processes; i++) {
    servers.push(
      await startServerProcess({
        databaseUrl: database.databaseUrl,
        dataDir: database.dataDir,
        secrets,
        env: {
          ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1",
          ENGINE_CLOUD_HUB_POLL_MS: String(config.pollMs),
          ENGINE_CLOUD_HUB_BATCH_SIZE: String(config.batch),
          ENGINE_CLOUD_HUB_PROVIDER_CONCURRENCY: String(config.providerConcurrency),
          ENGINE_CLOUD_METRICS_TOKEN: METRICS_TOKEN,
        },
      }),
    );
  }
  // Every connect flow starts on the first server, so the provider sends every browser back to it.
  auth = await startLoopbackAuthorizationServer({
    redirectUris: [`${servers[0].url}/oauth/callback`],
    accessTokenTtl: config.lifetimeS,
    rotateRefreshTokens: true,
    onGrant({ account, grantType, at }) {
      const previous = expiryOf.get(account);
      if (measuring && grantType === "refresh_token" && previous !== undefined) leadsMs.push(previous - at);
      expiryOf.set(account, at + config.lifetimeS * 1000);
    },
  });
  const provider = auth;
  await stats.connect();
  const platform = createCloudClient({ baseUrl: servers[0].url, token: secrets.adminToken });
  const tenantClient = (slug: string, server = 0) =>
    createCloudClient({ baseUrl: servers[server].url, token: secrets.adminToken, tenant: slug });

  // ——— the fan-out tenant, timed before the hub has anything to do ———
  await platform.tenants.createTenant({ slug: "fanout" });
  const fanout = tenantClient("fanout");
  await fanout.projects.allowProject({ name: PROJECT });
  const runtimeToken = (await fanout.tokens.createToken({ label: "bench-runtimes", kind: TokenKind.RUNTIME, projects: [] }))
    .secret;
  const runtimes = startRuntimes(runtimeToken);
  await runtimes.ready;
  const fanoutQuiet = await timeFanOut(fanout, runtimes);

  // ——— seeding ———
  // The hub's tenants, "hub" first (the connect flow seeds only it), each with the loopback app.
  const tenantCount = config.seed === "direct" ? config.tenants : 1;
  const hubTenantIds: string[] = [];
  for (let i = 0; i < tenantCount; i++) {
    const slug = i === 0 ? "hub" : `hub-${i}`;
    const { tenant } = await platform.tenants.createTenant({ slug });
    await platform.tenants.setTenantLimits({ tenant: slug, overrides: { tenantConnections: config.connections * 2 } });
    await registerLoopbackApp(tenantClient(slug), provider);
    hubTenantIds.push(tenant!.id);
  }
  const hub = tenantClient("hub");
  const seedStart = performance.now();
  if (config.seed === "direct") {
    await seedDirect(hubTenantIds, provider);
  } else {
    let next = 0;
    const seeder = async () => {
      for (let i = next++; i < config.connections; i = next++) {
        await connectLoopbackAccount(hub, provider, { login: `account-${i}`, alias: `c${i}` });
      }
    };
    await Promise.all(Array.from({ length: config.connectConcurrency }, seeder));
  }
  const seedS = (performance.now() - seedStart) / 1000;
  console.log(
    `\nseeded ${config.connections} connections (${config.seed === "direct" ? "minted grants, rows by writeGrant" : "through the connect flow"}) ` +
      `in ${fmt(seedS, 1)} s (${fmt(config.connections / seedS, 0)}/s)`,
  );

  // ——— the measured window ———
  // Seeded through the connect flow, every connection was refreshed once before the window (its lead then known);
  // seeded directly, each first refresh is already spread over the lifetime and its lead known: a short warm-up.
  await sleep(config.seed === "direct" ? Math.min(15_000, (config.lifetimeS * 1000) / 2) : (config.lifetimeS * 1000) / 2);
  const before = await snapshot();
  measuring = true;
  const windowStart = performance.now();
  const fanoutBusy = timeFanOut(fanout, runtimes);
  await sleep(config.measureS * 1000);
  measuring = false;
  const after = await snapshot();
  const windowS = (performance.now() - windowStart) / 1000;
  const busy = await fanoutBusy;
  await runtimes.close();

  const refreshes = after.generations - before.generations;
  const demand = config.connections / (config.lifetimeS - Math.min(900, config.lifetimeS / 2));
  const lead = summarizeLatencies(leadsMs);
  console.log(`\nrefresh · ${fmt(windowS, 0)}-s window`);
  console.log(
    `  refreshes committed           ${refreshes} (${fmt(refreshes / windowS, 1)}/s; schedule asks ${fmt(demand, 1)}/s)`,
  );
  console.log(`  token-endpoint calls/refresh  ${fmt((after.tokenCalls - before.tokenCalls) / refreshes, 3)}`);
  console.log(
    `  lead before expiry (s)        p50 ${fmt(lead.p50 / 1000, 1)}  p99-low ${fmt(percentileLow(leadsMs, 0.01) / 1000, 1)}  ` +
      `min ${fmt(lead.min / 1000, 1)}  (W = ${fmt(Math.min(900, config.lifetimeS / 2), 0)} s)`,
  );
  console.log(`  grants revoked / invalid_grant ${after.revoked - before.revoked} / ${after.invalidGrant - before.invalidGrant}`);
  console.log(`  transactions/refresh          ${fmt((after.xacts - before.xacts) / refreshes, 2)}`);
  console.log(`  row writes/refresh            ${fmt((after.rowWrites - before.rowWrites) / refreshes, 2)}`);
  console.log(
    `  statements/refresh            ${fmt((after.statements - before.statements) / refreshes, 2)} (all ${config.processes} processes)`,
  );
  console.log(
    `  server CPU ms/refresh         ${fmt((after.cpuMs - before.cpuMs) / refreshes, 2)} (all ${config.processes} processes)`,
  );
  console.log("  (the window includes the fan-out below: its transactions and CPU are in these figures too)");

  console.log(
    `\nruntime fan-out · another tenant · ${config.runtimes} streams over ${config.processes} servers · ms from put to arrival`,
  );
  for (const [name, s] of [
    ["without the hub", fanoutQuiet],
    ["while refreshing", busy],
  ] as const) {
    console.log(
      `  ${name.padEnd(18)} p50 ${fmt(s.p50, 1).padStart(7)}  p99 ${fmt(s.p99, 1).padStart(7)}  max ${fmt(s.max, 1).padStart(7)}` +
        `  (${s.samples} arrivals; ${s.missed} changes not everywhere within 15 s)`,
    );
  }

  /** The counters the window's figures are differences of. */
  async function snapshot() {
    const one = async (sql: string) => Number((await stats.query(sql)).rows[0]?.n ?? 0);
    // Every statement the three servers sent (transaction control included), as each counts them where it sends.
    const sent = await Promise.all(servers.map((srv) => statementsSent(srv.url)));
    const statements = sent.reduce((a, b) => a + b, 0);
    // The statistics collector flushes at most every second or so: let it catch up with the window's edge.
    await sleep(1500);
    return {
      generations: await one("SELECT coalesce(sum(generation), 0) AS n FROM connections"),
      xacts: await one("SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()"),
      rowWrites: await one("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables"),
      statements,
      tokenCalls: provider.tokenCalls(),
      revoked: provider.events.filter((e) => e.name === "grant.revoked").length,
      invalidGrant: provider.events.filter((e) => e.name === "grant.error" && e.detail?.startsWith("invalid_grant")).length,
      cpuMs: servers.reduce((sum, s) => sum + processCpuMs(s.pid), 0),
    };
  }
} finally {
  await stats.end().catch(() => undefined);
  await Promise.all(servers.map((s) => s.stop()));
  await auth?.close();
  await database.drop();
}

/**
 * Mints every account's grant at the authorization server and writes its
 * connection with the server's own store function, in batches of one tenant
 * transaction each. The first refresh is due at a random point of the first
 * lifetime less W, so the window starts in the steady state rather than with
 * every connection due at once; the credential runtimes receive is the hub's
 * to publish, at that first refresh.
 */
async function seedDirect(tenantIds: string[], as: NonNullable<typeof auth>) {
  const { randomUUID } = await import("node:crypto");
  const { loadConfig } = await import("../packages/server/src/config.js");
  const { createLogger } = await import("../packages/server/src/log.js");
  const { rootKeyRingOf } = await import("../packages/server/src/crypto/root-keys.js");
  const { createTenantKeys } = await import("../packages/server/src/crypto/tenant-keys.js");
  const { sealTokenSet } = await import("../packages/server/src/crypto/hub-secrets.js");
  const { openDatabase } = await import("../packages/server/src/store/open-database.js");
  const { writeGrant } = await import("../packages/server/src/store/connections.js");
  const { systemScope, withTenant } = await import("../packages/server/src/store/with-tenant.js");
  const { LOOPBACK_PROVIDER } = await import("../test/support/hub-connections.js");
  const serverConfig = loadConfig([], {
    DATABASE_URL: database.databaseUrl!,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    ENGINE_CLOUD_MASTER_KEY: secrets.masterKey,
  });
  const log = createLogger("warn");
  const storage = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, poolSize: 4 });
  // Only dataKey is used: no change feed here, so nothing to evict the cache on (the bench rotates no key).
  const keys = createTenantKeys(storage.db, rootKeyRingOf(serverConfig.masterKey, [], log), {
    subscribe: () => () => {},
  } as never);
  const lifetimeMs = config.lifetimeS * 1000;
  const firstDueSpanMs = lifetimeMs - Math.min(900_000, lifetimeMs / 2);
  const BATCH = 200;
  try {
    for (let from = 0; from < config.connections; from += BATCH) {
      // Each batch one tenant's, round robin: connection i is in tenant (i / BATCH) mod tenants.
      const tenantId = tenantIds[(from / BATCH) % tenantIds.length];
      const logins = Array.from({ length: Math.min(BATCH, config.connections - from) }, (_, k) => `account-${from + k}`);
      const grants = await Promise.all(logins.map((login) => as.mintGrant(login)));
      // The provider's expiry of each first token: the first refresh's lead is measured too.
      for (const [k, g] of grants.entries()) expiryOf.set(logins[k], Date.now() + g.expiresInSeconds * 1000);
      await withTenant(storage.db, systemScope(tenantId, "system:oauth-callback"), async ({ tx }) => {
        const dataKey = await keys.dataKey(tx, tenantId);
        for (const [k, grant] of grants.entries()) {
          const id = randomUUID();
          const sealed = { access_token: grant.accessToken, refresh_token: grant.refreshToken, token_type: "Bearer" };
          await writeGrant(
            tx,
            tenantId,
            {
              id,
              provider: LOOPBACK_PROVIDER,
              project: "",
              alias: `c${from + k}`,
              externalAccount: logins[k],
              scopes: grant.scope.split(" "),
              metadata: {},
              urlParameters: {},
              sealedTokens: sealTokenSet(dataKey, tenantId, id, 1, sealed),
              sharedApp: false,
              accessExpiresAt: new Date(Date.now() + grant.expiresInSeconds * 1000),
              nextRefreshAt: new Date(Date.now() + Math.random() * firstDueSpanMs),
              generation: 1,
              actor: "system:bench-seed",
            },
            false,
          );
        }
      });
    }
  } finally {
    await storage.close();
  }
}

/** The value below which `q` of the samples lie (the low tail: a lead time's bad end). */
function percentileLow(values: number[], q: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Runtimes {
  ready: Promise<void>;
  /** Resolves with performance.now() at each stream's arrival of the credential version `version` of `id`. */
  arrivals(id: string, version: bigint): Promise<number[]>;
  close(): Promise<void>;
}

/** The fan-out tenant's runtimes: Watch streams spread over the servers, each noting when each change arrived. */
function startRuntimes(token: string): Runtimes {
  const abort = new AbortController();
  // One signal ends every stream: each adds a listener.
  setMaxListeners(config.runtimes + 10, abort.signal);
  const waiting = new Map<string, { times: number[]; done: (t: number[]) => void }>();
  let caughtUp = 0;
  let allCaughtUp!: () => void;
  const ready = new Promise<void>((r) => (allCaughtUp = r));
  const streams = Array.from({ length: config.runtimes }, async (_, i) => {
    const client = createCloudClient({ baseUrl: servers[i % servers.length].url, token });
    try {
      for await (const e of client.sync.watch({ project: PROJECT, sinceRevision: 0n }, { signal: abort.signal })) {
        if (e.event.case === "caughtUp" && ++caughtUp === config.runtimes) allCaughtUp();
        if (e.event.case !== "upsert") continue;
        const w = waiting.get(`${e.event.value.id}@${e.event.value.version}`);
        if (!w) continue;
        w.times.push(performance.now());
        if (w.times.length === config.runtimes) w.done(w.times);
      }
    } catch (err) {
      // A stream ending before close() (a server stopping after a failure elsewhere) is said, not thrown: the
      // failure that stopped it is the one to read.
      if (!abort.signal.aborted) console.error(`fan-out stream ${i} ended: ${String(err)}`);
    }
  });
  return {
    ready,
    arrivals: (id, version) => new Promise((done) => waiting.set(`${id}@${version}`, { times: [], done })),
    async close() {
      abort.abort();
      await Promise.allSettled(streams);
    },
  };
}

/**
 * Puts one credential `config.changes` times, one at a time, and times each
 * version's arrival at every stream from the moment the put was sent.
 */
async function timeFanOut(admin: CloudClient, runtimes: Runtimes) {
  const put = (value: string) =>
    admin.credentials.putCredential({
      project: PROJECT,
      provider: "bench",
      alias: "fanout",
      type: CredentialType.API_KEY,
      keys: { api_key: { value } },
    });
  // A first put names the credential and its version; each timed put is the next version, listened for before sending.
  let { credential } = await put(`fanout-${performance.now()}`);
  const samples: number[] = [];
  let missed = 0;
  for (let i = 0; i < config.changes; i++) {
    await sleep(CHANGE_EVERY_MS);
    const arrivals = runtimes.arrivals(credential!.id, credential!.version + 1n);
    const sentAt = performance.now();
    ({ credential } = await put(`fanout-${i}-${sentAt}`));
    const arrived = await Promise.race([arrivals, sleep(15_000).then(() => undefined)]);
    if (!arrived) missed++;
    for (const t of arrived ?? []) samples.push(t - sentAt);
  }
  return { ...summarizeLatencies(samples), samples: samples.length, missed };
}

/** engine_cloud_db_statements_total of one server. */
async function statementsSent(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const line = (await res.text()).split("\n").find((l) => l.startsWith("engine_cloud_db_statements_total "));
  return Number(line?.split(" ")[1] ?? NaN);
}
