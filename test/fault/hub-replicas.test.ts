import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ConnectionStatus, type Connection } from "@engine-cloud/api";
import { afterEach, describe, expect, it } from "vitest";
import { connectLoopbackAccount, registerLoopbackApp } from "../support/hub-connections.js";
import { startHubReplicas, type HubReplicas } from "../support/hub-replicas.js";
import { introspectAtFirstReceipt, startHubRuntime, type HubRuntime, type TokenDelivery } from "../support/hub-runtime.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "../support/loopback-authorization-server.js";
import { createSecretScan, secretsOf, type SecretScan } from "../support/secret-scan.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/test-database.js";
import { randomSeedToken } from "../support/test-server.js";
import { clientOf, createTestTenant, type TestTenant } from "../support/test-tenant.js";
import { DEAD_HOLDER_TAKEOVER_MS, HUB_ENGINE_ENV, TOKEN_TTL_S, WINDOW_MS } from "../support/hub-engine-env.js";

// The hub's proof across replicas (issue 11 §5): three server processes on
// one PostgreSQL database refresh 50 connections with rotating refresh tokens
// and 3-second access tokens. The authorization server revokes the whole grant
// when a refresh token is used twice, so its events are the oracle: a double
// refresh by two replicas, or a lost one retried, shows up as grant.revoked
// and invalid_grant. Runtimes hold Watch streams through different replicas and
// every access token they receive is introspected at once.
//
// Short runs for a developer: ENGINE_HUB_PROOF_SECONDS=15 ENGINE_HUB_PROOF_CONNECTIONS=10.

const SECONDS = Number(process.env.ENGINE_HUB_PROOF_SECONDS ?? 60);
const CONNECTIONS = Number(process.env.ENGINE_HUB_PROOF_CONNECTIONS ?? 50);
/** Connections of the SIGKILL run (default: as many as the other). */
const KILL_CONNECTIONS = Number(process.env.ENGINE_HUB_PROOF_KILL_CONNECTIONS ?? CONNECTIONS);
const KILL_EVERY_S = Number(process.env.ENGINE_HUB_PROOF_KILL_EVERY_S ?? 10);
const REPLICAS = 3;
const PROJECT = "p1";
/** Connects in flight at once while seeding. */
const CONNECT_CONCURRENCY = 5;

interface Run {
  database: TestDatabase;
  replicas: HubReplicas;
  auth: LoopbackAuthorizationServer;
  tenant: TestTenant;
  runtimes: HubRuntime[];
  runtimeToken: string;
  scan: SecretScan;
  /** alias → account login → when it was connected. */
  accounts: Map<string, { login: string; connectedAt: number }>;
  /** This process's event-loop delay: the runtimes stamp receipts here, the authorization server answers here. */
  lag: IntervalHistogram;
}

let run: Run | undefined;
afterEach(async (context) => {
  // A failure is read in the servers' own words: every replica's log, every life, in one file.
  if (run && (context.task.result?.state === "fail" || process.env.ENGINE_HUB_PROOF_KEEP_LOGS)) {
    const file = path.join(tmpdir(), `hub-replicas-${Date.now()}.log`);
    writeFileSync(file, run.replicas.output());
    console.log(`the replicas' logs: ${file}`);
  }
  run?.lag.disable();
  await Promise.all(run?.runtimes.map((r) => r.close()) ?? []);
  await run?.replicas.stop();
  await run?.auth.close();
  await run?.database.drop();
  run = undefined;
});

/** Three replicas, the authorization server, a tenant with the app, a runtime per replica, then 50 connects. */
async function startRun(connections = CONNECTIONS): Promise<Run> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const database = await createTestDatabase("postgres");
  const adminToken = randomSeedToken();
  const replicas = await startHubReplicas({ count: REPLICAS, database, adminToken, env: HUB_ENGINE_ENV });
  const auth = await startLoopbackAuthorizationServer({
    redirectUris: [`${replicas.urls[0]}/oauth/callback`],
    accessTokenTtl: TOKEN_TTL_S,
    rotateRefreshTokens: true,
  });
  const tenant = await createTestTenant({ url: replicas.urls[0], adminToken }, { allow: [PROJECT] });
  await registerLoopbackApp(tenant.admin, auth);
  const scan = createSecretScan();
  const runtimeToken = (await tenant.token()).secret;
  const introspect = introspectAtFirstReceipt(auth);
  const runtimes = replicas.urls.map((url, i) =>
    startHubRuntime({ name: `runtime-${i}`, url, token: runtimeToken, project: PROJECT, auth, scan, introspect }),
  );
  await Promise.all(runtimes.map((r) => r.ready));
  const accounts = new Map<string, { login: string; connectedAt: number }>();
  let next = 0;
  const connector = async () => {
    for (let i = next++; i < connections; i = next++) {
      const alias = `c${i}`;
      const login = `account-${i}`;
      await connectLoopbackAccount(tenant.admin, auth, { login, alias });
      accounts.set(alias, { login, connectedAt: Date.now() });
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, connector));
  run = { database, replicas, auth, tenant, runtimes, runtimeToken, scan, accounts, lag };
  return run;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectionsByAlias(r: Run): Promise<Map<string, Connection>> {
  const { connections } = await r.tenant.admin.connections.listConnections({});
  return new Map(connections.map((c) => [c.alias, c]));
}

function grantErrors(auth: LoopbackAuthorizationServer) {
  return {
    revoked: auth.events.filter((e) => e.name === "grant.revoked"),
    invalidGrant: auth.events.filter((e) => e.name === "grant.error" && e.detail?.startsWith("invalid_grant")),
  };
}

/**
 * Refresh calls a connection may have seen in `ms`. The provider stamps its
 * tokens in whole seconds (exp = the second of issue + the lifetime), which the
 * hub reads from its Date header, so a token lives between TTL − 1 s and TTL;
 * the hub refreshes it W to W + 20 % before that. A token issued late in its
 * second lives shortly and is refreshed early in a second, and one issued
 * early lives longer: refreshes settle about one per TTL − 0.5 s − W.
 * At most 1.5 times that rate, +1 for the one in flight: a second refresher
 * (twice the rate) is more. At least one per two lifetimes: fewer would be a
 * hub that stopped. The exact count is the hub's own (its generations), which
 * the calls must match; how early each refresh came is the benchmark's figure
 * (lead before expiry), printed here, not asserted.
 */
function expectedRefreshes(ms: number): { min: number; max: number } {
  const settled = TOKEN_TTL_S * 1000 - 500 - WINDOW_MS;
  return { min: Math.floor(ms / (2 * TOKEN_TTL_S * 1000)), max: Math.ceil((1.5 * ms) / settled) + 1 };
}

/**
 * Every token a runtime received was issued, active when it arrived, and had
 * at least W/2 left — by the provider's clock (its expiry in whole seconds),
 * not the hub's. The introspection is asked at receipt; on a busy machine its
 * answer may come after the token's expiry, and then says nothing about the
 * moment of receipt: such a token counts as active at receipt when the
 * provider's expiry was still ahead then.
 */
async function expectEveryDeliveryFresh(deliveries: TokenDelivery[], auth: LoopbackAuthorizationServer) {
  const problems: string[] = [];
  const least = { pushed: Infinity, resumed: Infinity };
  for (const d of deliveries) {
    const seen = await d.introspection;
    const expiry = auth.issued.accessTokenExpiry.get(d.token);
    const name = `${d.runtime} ${d.alias} v${d.version}${d.catchUp ? " (resumed stream)" : ""}`;
    if (expiry === undefined) {
      problems.push(`${name}: a token never issued`);
      continue;
    }
    if (!seen.active && seen.answeredAt < expiry) problems.push(`${name}: inactive at receipt (revoked or unknown)`);
    const left = expiry - d.receivedAt;
    const side = d.catchUp ? "resumed" : "pushed";
    least[side] = Math.min(least[side], left);
    // A resumed stream's catch-up sends the token stored then, which the hub refreshed W to W + 20 % before the
    // provider's expiry: it holds W/2 too, unless a refresh came later than W/2 past its due time.
    if (left < WINDOW_MS / 2) problems.push(`${name}: ${left} ms left at receipt by the provider's clock`);
    // The expiry the credential states is the provider's, to within expires_in's whole seconds.
    if (Math.abs(expiry - d.expiresAt) > 1500) problems.push(`${name}: expires_at differs from the provider's expiry`);
  }
  console.log(
    `least left at receipt, by the provider's clock: pushed ${least.pushed} ms, on resumed streams ${least.resumed} ms`,
  );
  expect(problems.slice(0, 20), `${problems.length} of ${deliveries.length} deliveries`).toEqual([]);
}

/** Per runtime and connection, the credential's version only goes up: no older token after a newer one. */
function expectVersionsIncreasing(runtimes: HubRuntime[]) {
  const problems: string[] = [];
  for (const r of runtimes) {
    const last = new Map<string, TokenDelivery>();
    for (const d of r.deliveries) {
      const before = last.get(d.alias);
      if (before && d.version <= before.version) {
        problems.push(`${r.name} ${d.alias}: v${d.version} after v${before.version}`);
      }
      last.set(d.alias, d);
    }
  }
  expect(problems.slice(0, 20)).toEqual([]);
}

/**
 * How each next token arrived against the previous one's expiry less W/2 (the
 * issue's target): printed per runtime, not asserted (timings are the
 * benchmark's business; a loaded machine moves them).
 */
function printLateness(runtime: HubRuntime) {
  const last = new Map<string, TokenDelivery>();
  let late = 0;
  let expired = 0;
  let worst = 0;
  for (const d of runtime.deliveries) {
    const before = last.get(d.alias);
    if (before) {
      const by = d.receivedAt - (before.expiresAt - WINDOW_MS / 2);
      if (by > 0) late++;
      if (d.receivedAt > before.expiresAt) expired++;
      worst = Math.max(worst, by);
    }
    last.set(d.alias, d);
  }
  console.log(
    `${runtime.name}: ${runtime.deliveries.length} tokens over ${runtime.streams()} streams; ` +
      `${late} after the previous one's expiry − W/2 (worst by ${worst} ms), ${expired} after its expiry`,
  );
}

/**
 * A read the server asks to retry (ABORTED: its repeatable-read transaction
 * met the hub's commits), retried as a runtime would, a few times.
 */
async function retryAborted<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= 5 || ConnectError.from(err).code !== Code.Aborted) throw err;
      await sleep(100 * attempt);
    }
  }
}

/** A receipt stamped late by this process's own busy event loop looks like a late token: the figure to read it by. */
function printLag(r: Run) {
  const ms = (ns: number) => Math.round(ns / 1e6);
  console.log(`this process's event-loop delay: p99 ${ms(r.lag.percentile(99))} ms, max ${ms(r.lag.max)} ms`);
}

/**
 * Every runtime catches up with what the hub last committed: for each
 * connection, the credential version a Pull shows now reaches every stream
 * (within 15 s, generous: this is about arriving, not how fast).
 */
async function expectRuntimesCaughtUp(r: Run, exclude: Set<string>) {
  const runtimeClient = clientOf({ url: r.replicas.urls[0] }, r.runtimeToken);
  const { events } = await retryAborted(() => runtimeClient.sync.pull({ project: PROJECT, sinceRevision: 0n }));
  const target = new Map<string, bigint>();
  for (const e of events) {
    r.scan.addStreamMessage(e);
    if (e.event.case === "upsert" && !exclude.has(e.event.value.alias)) target.set(e.event.value.alias, e.event.value.version);
  }
  expect(target.size).toBe(r.accounts.size - exclude.size);
  const behind = () =>
    r.runtimes.flatMap((runtime) => {
      const held = new Map<string, bigint>();
      for (const d of runtime.deliveries) held.set(d.alias, d.version);
      return [...target].filter(([alias, v]) => (held.get(alias) ?? -1n) < v).map(([alias]) => `${runtime.name} ${alias}`);
    });
  const deadline = Date.now() + 15_000;
  while (behind().length > 0 && Date.now() < deadline) await sleep(200);
  expect(behind(), "runtimes without the latest token").toEqual([]);
}

/**
 * Refresh calls per connection agree with the generations the hub committed,
 * and with the schedule; `missedPeriods` allows refreshes a kill delayed (a
 * killed holder's claims are taken over once its heartbeat lapsed and no call
 * of its can be in flight).
 */
async function expectOneCallPerRefresh(
  r: Run,
  connections: Map<string, Connection>,
  endedAt: number,
  { exclude = new Set<string>(), missedPeriods = 0 }: { exclude?: Set<string>; missedPeriods?: number } = {},
) {
  const problems: string[] = [];
  for (const [alias, { login, connectedAt }] of r.accounts) {
    if (exclude.has(alias)) continue;
    const calls = r.auth.refreshes.get(login) ?? 0;
    const committed = Number(connections.get(alias)!.generation) - 1;
    // One refresh may be in flight as the run ends: called, not yet committed.
    if (calls < committed || calls > committed + 1)
      problems.push(`${alias}: ${calls} token calls, ${committed} refreshes committed`);
    const { min, max } = expectedRefreshes(endedAt - connectedAt);
    if (calls < min - missedPeriods || calls > max) problems.push(`${alias}: ${calls} token calls, expected ${min}…${max}`);
  }
  expect(problems.slice(0, 20)).toEqual([]);
}

function expectNoSecretLeaked(r: Run) {
  r.scan.addLog(r.replicas.output());
  expect(r.auth.issued.refreshTokens.size).toBeGreaterThan(CONNECTIONS);
  expect(r.scan.leaks(secretsOf(r.auth))).toEqual([]);
}

describe.skipIf(!onPostgres)(`the hub on ${REPLICAS} replicas sharing one PostgreSQL`, () => {
  it(
    `refreshes ${CONNECTIONS} rotating connections for ${SECONDS} s exactly once each time: no grant revoked, no invalid_grant`,
    async () => {
      const r = await startRun();
      await sleep(SECONDS * 1000);
      const endedAt = Date.now();
      const { revoked, invalidGrant } = grantErrors(r.auth);
      const connections = await connectionsByAlias(r);
      for (const runtime of r.runtimes) printLateness(runtime);
      printLag(r);

      expect(revoked, "grants the authorization server revoked (a refresh token used twice)").toEqual([]);
      expect(invalidGrant, "invalid_grant answers").toEqual([]);
      expect([...connections.values()].filter((c) => c.status !== ConnectionStatus.ACTIVE).map((c) => c.alias)).toEqual([]);
      await expectOneCallPerRefresh(r, connections, endedAt);
      await expectRuntimesCaughtUp(r, new Set());
      await expectEveryDeliveryFresh(
        r.runtimes.flatMap((x) => x.deliveries),
        r.auth,
      );
      expectVersionsIncreasing(r.runtimes);
      expectNoSecretLeaked(r);
    },
    (SECONDS + 180) * 1000,
  );

  it(
    `keeps that for ${KILL_CONNECTIONS} connections while one replica is killed with SIGKILL every ${KILL_EVERY_S} s and restarted`,
    async () => {
      const r = await startRun(KILL_CONNECTIONS);
      const stopAt = Date.now() + SECONDS * 1000;
      let kills = 0;
      while (Date.now() + KILL_EVERY_S * 1000 <= stopAt) {
        await sleep(KILL_EVERY_S * 1000);
        // Replicas 1 and 2 in turn; replica 0 serves the callback URL and its runtime's stream stays up throughout.
        const victim = 1 + (kills++ % (REPLICAS - 1));
        await r.replicas.kill9(victim);
        await r.replicas.restart(victim);
      }
      await sleep(Math.max(0, stopAt - Date.now()));
      const endedAt = Date.now();
      const { revoked, invalidGrant } = grantErrors(r.auth);
      const connections = await connectionsByAlias(r);
      for (const runtime of r.runtimes) printLateness(runtime);
      printLag(r);

      // A kill can land in the one moment no client can make safe: the provider rotated, the replica died before
      // committing. The hub then retries exactly once, the provider revokes the grant, and the connection says
      // rotation_lost. Every revoked grant must be such a connection; every other connection stays ACTIVE.
      const lost = [...connections.values()].filter((c) => c.status === ConnectionStatus.NEEDS_REAUTH);
      const lostLogins = new Set(lost.map((c) => r.accounts.get(c.alias)!.login));
      console.log(`${kills} kills: ${lost.length} rotations lost, ${revoked.length} grants revoked`);
      expect(lost.map((c) => c.statusReason).filter((reason) => reason !== "rotation_lost")).toEqual([]);
      expect(
        revoked.filter((e) => !lostLogins.has(e.account ?? "")),
        "revoked grants not explained by a kill",
      ).toEqual([]);
      // One retry per lost rotation — and one more only where a later kill took the replica that had retried before it
      // could commit the verdict (its successor cannot know it, and retries once itself): never a loop.
      expect(
        invalidGrant.filter((e) => !lostLogins.has(e.account ?? "")),
        "invalid_grant answers not explained by a kill",
      ).toEqual([]);
      expect(invalidGrant.length).toBeGreaterThanOrEqual(lost.length);
      expect(invalidGrant.length, "one retry per lost rotation, and one per later kill at most").toBeLessThanOrEqual(
        lost.length + kills,
      );
      expect(lost.length).toBeLessThanOrEqual(kills * 5);
      expect(
        [...connections.values()]
          .filter((c) => c.status !== ConnectionStatus.ACTIVE && c.status !== ConnectionStatus.NEEDS_REAUTH)
          .map((c) => `${c.alias}: ${ConnectionStatus[c.status]}`),
      ).toEqual([]);
      const lostAliases = new Set(lost.map((c) => c.alias));
      const periodMs = TOKEN_TTL_S * 1000 - WINDOW_MS;
      await expectOneCallPerRefresh(r, connections, endedAt, {
        exclude: lostAliases,
        missedPeriods: kills * Math.ceil(DEAD_HOLDER_TAKEOVER_MS / periodMs),
      });
      // Afterwards every runtime, those of the restarted replicas too, holds the latest token of every connection.
      await expectRuntimesCaughtUp(r, lostAliases);
      // The oracle, whole: every token a runtime received — pushed as the hub committed it, or on a stream resuming
      // after its replica's death — was active on receipt with at least W/2 left.
      const deliveries = r.runtimes.flatMap((x) => x.deliveries);
      console.log(`${deliveries.filter((d) => d.catchUp).length} tokens delivered on resumed streams`);
      await expectEveryDeliveryFresh(deliveries, r.auth);
      expectVersionsIncreasing(r.runtimes);
      expect(r.runtimes[1].streams()).toBeGreaterThan(1);
      expectNoSecretLeaked(r);
    },
    (SECONDS + 240) * 1000,
  );
});
