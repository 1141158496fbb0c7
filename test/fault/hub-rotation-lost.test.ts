import { ConnectionStatus, type Connection } from "@engine-cloud/api";
import { afterEach, describe, expect, it } from "vitest";
import { connectLoopbackAccount, registerLoopbackApp } from "../support/hub-connections.js";
import { DEAD_HOLDER_TAKEOVER_MS, HUB_ENGINE_ENV, LEASE_MS, TOKEN_TTL_S } from "../support/hub-engine-env.js";
import { processHoldingPort, startHubReplicas, type HubReplicas } from "../support/hub-replicas.js";
import { startHubRuntime, type HubRuntime } from "../support/hub-runtime.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "../support/loopback-authorization-server.js";
import { createSecretScan, secretsOf, type SecretScan } from "../support/secret-scan.js";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/test-database.js";
import { randomSeedToken } from "../support/test-server.js";
import { clientOf, createTestTenant, type TestTenant } from "../support/test-tenant.js";

// kill -9 of the replica that is refreshing, in the one moment no client can
// make safe: the provider has rotated the refresh token (the old one is spent)
// and its answer is on the way, but the hub has not committed it. The
// authorization server holds that answer while the test finds the process
// holding the socket and kills it. Another replica claims the connection once
// the dead holder's lease runs out, finds its attempt marker and retries once
// with the refresh token it has: a rotating provider answers invalid_grant
// (and revokes the grant) and the connection says rotation_lost, with no
// further call; a provider that does not rotate answers, and the connection
// stays ACTIVE at the price of one extra call.

const PROJECT = "p1";
const LOGIN = "rotating-account";

interface Setup {
  database: TestDatabase;
  replicas: HubReplicas;
  auth: LoopbackAuthorizationServer;
  tenant: TestTenant;
  adminToken: string;
  runtime: HubRuntime;
  scan: SecretScan;
  connectionId: string;
}

let setup: Setup | undefined;
afterEach(async () => {
  await setup?.runtime.close();
  await setup?.replicas.stop();
  await setup?.auth.close();
  await setup?.database.drop();
  setup = undefined;
});

async function start(rotateRefreshTokens: boolean): Promise<Setup> {
  const database = await createTestDatabase("postgres");
  const adminToken = randomSeedToken();
  const replicas = await startHubReplicas({ count: 2, database, adminToken, env: HUB_ENGINE_ENV });
  const auth = await startLoopbackAuthorizationServer({
    redirectUris: [`${replicas.urls[0]}/oauth/callback`],
    accessTokenTtl: TOKEN_TTL_S,
    rotateRefreshTokens,
  });
  const tenant = await createTestTenant({ url: replicas.urls[0], adminToken }, { allow: [PROJECT] });
  await registerLoopbackApp(tenant.admin, auth);
  const scan = createSecretScan();
  const runtime = startHubRuntime({
    name: "runtime",
    url: replicas.urls[0],
    token: (await tenant.token()).secret,
    project: PROJECT,
    auth,
    scan,
  });
  await runtime.ready;
  const connectionId = await connectLoopbackAccount(tenant.admin, auth, { login: LOGIN, alias: "rotating" });
  setup = { database, replicas, auth, tenant, adminToken, runtime, scan, connectionId };
  return setup;
}

/**
 * Holds the first refresh's answer, kills -9 the replica that asked for it,
 * lets the answer go (to no one) and starts that replica again, as an
 * orchestrator would. Returns the replica that survived and when the kill was.
 */
async function killTheRefreshingReplica(s: Setup): Promise<{ survivor: number; killedAt: number }> {
  const held = await s.auth.holdNextRefresh();
  const pid = processHoldingPort(held.clientPort, s.replicas.pids());
  expect(pid, "the replica holding the refresh's connection").toBeDefined();
  const victim = s.replicas.pids().indexOf(pid!);
  await s.replicas.kill9(victim);
  const killedAt = Date.now();
  held.release();
  await s.replicas.restart(victim);
  return { survivor: 1 - victim, killedAt };
}

/** The connection as the surviving replica reports it, once `done` holds (polled every 100 ms) or after `ms`. */
async function connectionWhen(s: Setup, survivor: number, done: (c: Connection) => boolean, ms: number): Promise<Connection> {
  const admin = clientOf({ url: s.replicas.urls[survivor] }, s.adminToken, { tenant: s.tenant.slug });
  const deadline = Date.now() + ms;
  for (;;) {
    const { connection } = await admin.connections.getConnection({ id: s.connectionId });
    if (done(connection!) || Date.now() > deadline) return connection!;
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const invalidGrants = (auth: LoopbackAuthorizationServer) =>
  auth.events.filter((e) => e.name === "grant.error" && e.detail?.startsWith("invalid_grant")).length;

/** The retry came well before the dead holder's 30-s lease ran out: within the takeover bound and 5 s of a busy machine. */
function expectTakenOverEarly(killedAt: number) {
  const took = Date.now() - killedAt;
  console.log(`taken over ${took} ms after the kill (bound ${DEAD_HOLDER_TAKEOVER_MS} ms, lease ${LEASE_MS} ms)`);
  expect(took).toBeLessThan(DEAD_HOLDER_TAKEOVER_MS + 5_000);
}

function expectNoSecretLeaked(s: Setup) {
  s.scan.addLog(s.replicas.output());
  expect(s.scan.leaks(secretsOf(s.auth))).toEqual([]);
}

describe.skipIf(!onPostgres)("kill -9 between the provider's rotation and the hub's commit", () => {
  it("rotating refresh tokens: NEEDS_REAUTH rotation_lost after exactly one retry, then no call", async () => {
    const s = await start(true);
    const { survivor, killedAt } = await killTheRefreshingReplica(s);
    // The dead holder's claim is taken over once its heartbeat lapsed and its marked call's timeout is past, before
    // its lease would have run out.
    const connection = await connectionWhen(s, survivor, (c) => c.status === ConnectionStatus.NEEDS_REAUTH, LEASE_MS + 15_000);
    expect(connection).toMatchObject({ status: ConnectionStatus.NEEDS_REAUTH, statusReason: "rotation_lost" });
    expectTakenOverEarly(killedAt);
    expect(s.auth.refreshes.get(LOGIN), "refreshes the provider granted: the lost one").toBe(1);
    expect(invalidGrants(s.auth), "the one retry with the spent refresh token").toBe(1);
    const calls = s.auth.tokenCalls();
    await sleep(3 * TOKEN_TTL_S * 1000);
    expect(s.auth.tokenCalls(), "token calls after rotation_lost").toBe(calls);
    // The runtime (its stream resumed if its replica was the one killed) was told, not left with an expired token.
    expect(s.runtime.statuses.at(-1)).toMatchObject({ status: ConnectionStatus.NEEDS_REAUTH, statusReason: "rotation_lost" });
    expectNoSecretLeaked(s);
  });

  it("refresh tokens that do not rotate: the retry succeeds, ACTIVE, with one extra call", async () => {
    const s = await start(false);
    const { survivor, killedAt } = await killTheRefreshingReplica(s);
    const connection = await connectionWhen(s, survivor, (c) => c.generation >= 2n, LEASE_MS + 15_000);
    expect(connection).toMatchObject({ status: ConnectionStatus.ACTIVE, generation: 2n });
    expectTakenOverEarly(killedAt);
    // Two refreshes granted (the lost one and the retry) for one committed: exactly one extra call.
    expect(s.auth.refreshes.get(LOGIN)).toBe(2);
    expect(invalidGrants(s.auth)).toBe(0);
    expect(s.auth.events.filter((e) => e.name === "grant.revoked")).toEqual([]);
    expectNoSecretLeaked(s);
  });
});
