import { ConnectionStatus } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectLoopbackAccount, registerLoopbackApp } from "./support/hub-connections.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "./support/loopback-authorization-server.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";

// Keep-alive (issue 11 §3, research note §5 #8): an idle connection whose
// access token lives 30 days is still refreshed at least once a day, since
// providers end grants left unused (Google after 6 months, Xero and
// Salesforce after 30 days idle). Days pass in seconds: the refresh engine's
// clock (the database's now(), moved ahead by the test) is driven, not
// process timers; the authorization server's clock is the real one.

const DAY_MS = 86_400_000;
const HUB_ENV = {
  ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1",
  ENGINE_CLOUD_HUB_POLL_MS: "100",
  ENGINE_CLOUD_HUB_LEASE_MS: "3000",
  ENGINE_CLOUD_HUB_TOKEN_TIMEOUT_MS: "1000",
};

let ahead = 0;
let srv: TestServer;
let auth: LoopbackAuthorizationServer;
let acme: TestTenant;

beforeAll(async () => {
  srv = await startTestServer({ env: HUB_ENV, hubClock: { aheadMs: () => ahead } });
  auth = await startLoopbackAuthorizationServer({
    redirectUris: [`${srv.url}/oauth/callback`],
    accessTokenTtl: 30 * 86_400,
    rotateRefreshTokens: true,
  });
  acme = await createTestTenant(srv);
  await registerLoopbackApp(acme.admin, auth);
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  await auth?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const connectionOf = async (id: string) => (await acme.admin.connections.getConnection({ id })).connection!;

/** The engine's clock to `ms` past the start, then long enough for a few polls (100 ms apart) to act on it. */
async function clockAt(ms: number) {
  ahead = ms;
  await sleep(600);
}

describe("keep-alive", () => {
  it("refreshes an idle connection with 30-day tokens once a simulated day, never sooner, through three days", async () => {
    const id = await connectLoopbackAccount(acme.admin, auth, { login: "idle", alias: "idle" });
    const connected = await connectionOf(id);
    const due = Number(connected.nextRefreshAt!.seconds) * 1000 - Date.now();
    // The first schedule is the keep-alive (24 h), not the token's expiry less W (30 days less 15 min).
    expect(due).toBeLessThanOrEqual(DAY_MS + 1000);
    const calls = auth.tokenCalls();
    for (let day = 1; day <= 3; day++) {
      await clockAt(day * DAY_MS - 3_600_000); // an hour before the day is up: nothing yet
      expect(auth.tokenCalls() - calls, `day ${day}, an hour early`).toBe(day - 1);
      // The schedule is a day from the last refresh, which came a poll or so after the day before was up.
      await clockAt(day * DAY_MS + day * 10_000);
      const c = await connectionOf(id);
      expect(auth.tokenCalls() - calls, `day ${day}`).toBe(day);
      expect(c).toMatchObject({ status: ConnectionStatus.ACTIVE, generation: BigInt(1 + day) });
    }
    expect(auth.refreshes.get("idle")).toBe(3);
    expect(auth.events.filter((e) => e.name === "grant.revoked")).toEqual([]);
  });
});
