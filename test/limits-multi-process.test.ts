import { setTimeout as sleep } from "node:timers/promises";
import { Role } from "@engine-cloud/api";
import { errorReason, type CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { onPostgres } from "./support/test-database.js";
import { on, startServerPair, type ServerPair } from "./support/server-pair.js";
import { addPerson, FAST_PASSWORD_HASH, signIn, uniqueEmail, uniquePassword } from "./support/test-people.js";
import { createTestTenant, type TestTenant } from "./support/test-tenant.js";
import { randomSeedToken, type ServerProcess } from "./support/test-server.js";
import { isCaughtUp, recordWatch, type WatchRecorder } from "./support/watch-recorder.js";

// Two server processes on one PostgreSQL database, as behind a load balancer:
// limits and sign-in lockouts hold for both together, not for each.

const FLUSH_MS = 200;
let pair: ServerPair;
let a: ServerProcess;
let b: ServerProcess;
const adminToken = randomSeedToken();

beforeAll(async () => {
  if (!onPostgres) return;
  pair = await startServerPair(adminToken, { ...FAST_PASSWORD_HASH, ENGINE_CLOUD_LIMITS_FLUSH_MS: String(FLUSH_MS) });
  ({ a, b } = pair);
}, 120_000);
const open: WatchRecorder[] = [];
afterAll(async () => {
  for (const w of open) await w.close();
  await pair?.stop();
});

const PROJECT = "app";
const tenantOn = (proc: ServerProcess) => createTestTenant({ url: proc.url, adminToken }, { allow: [PROJECT] });
const runtimeOn = async (proc: ServerProcess, tenant: TestTenant) => on(proc, (await tenant.token()).secret);

/** Calls `call` from `workers` loops at once until `ms` have passed; returns the calls served. */
async function hammer(call: () => Promise<unknown>, workers: number, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let served = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        if (
          await call().then(
            () => true,
            () => false,
          )
        )
          served++;
      }
    }),
  );
  return served;
}

describe.skipIf(!onPostgres)("limits on two server processes sharing one database", () => {
  it("applies an override set through A on B at its next request", async () => {
    const tenant = await tenantOn(a);
    const onB = await runtimeOn(b, tenant);
    await onB.auth.whoAmI({}); // B holds the tenant's limits now
    await on(a, adminToken).tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenRequestsPerSecond: 1 } });
    const answers = await Promise.all([1, 2, 3].map(() => onB.auth.whoAmI({}).then(() => "OK", errorReason)));
    expect(answers.sort()).toEqual(["OK", "RATE_LIMITED", "RATE_LIMITED"]);
  });

  it("holds one credential's request rate across both processes within the stated bound", async () => {
    const rate = 20;
    const seconds = 4;
    const tenant = await tenantOn(a);
    await on(a, adminToken).tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenRequestsPerSecond: rate } });
    const secret = (await tenant.token()).secret;
    const [onA, onB] = [on(a, secret), on(b, secret)];
    const served = (await Promise.all([onA, onB].map((c) => hammer(() => c.auth.whoAmI({}), 4, seconds * 1000)))).reduce(
      (x, y) => x + y,
    );
    // limiter.ts: N processes admit at most rate × span + N × rate × (1 s + 2 × flush interval);
    // each on its own would serve 2 × rate × (seconds + 1).
    const bound = rate * seconds + 2 * rate * (1 + (2 * FLUSH_MS) / 1000);
    expect(served).toBeLessThanOrEqual(bound);
    expect(served).toBeGreaterThanOrEqual((rate * seconds) / 2);
  }, 30_000);

  it("counts a credential's open streams on both processes together", async () => {
    const tenant = await tenantOn(a);
    await on(a, adminToken).tenants.setTenantLimits({ tenant: tenant.slug, overrides: { tokenStreams: 2 } });
    const secret = (await tenant.token()).secret;
    for (let i = 0; i < 2; i++) {
      const w = recordWatch(on(a, secret), { project: PROJECT });
      open.push(w);
      await w.until(isCaughtUp);
    }
    // B learns of A's streams on A's next flush.
    const onB: CloudClient = on(b, secret);
    for (let i = 0; i < 50 && (await onB.tenants.getTenantLimits({})).usage?.tokenStreams !== 2; i++) await sleep(FLUSH_MS / 2);
    const end = await recordWatch(onB, { project: PROJECT }).ended;
    expect([end?.reason, end?.metadata.limit]).toEqual(["STREAM_LIMIT", "token_streams"]);
  });
});

describe.skipIf(!onPostgres)("sign-in lockouts on two server processes sharing one database", () => {
  /** Five wrong passwords through A, then the answer B gives at once. */
  const lockedOnB = async (email: string) => {
    for (let i = 0; i < 5; i++) await failureOf(signIn(a, email, uniquePassword()));
    const err = await failureOf(signIn(b, email, uniquePassword()));
    return `${err.codeName} ${err.reason}`;
  };

  it("locks an unknown email on B after wrong passwords on A exactly as it locks a known one (L2)", async () => {
    const tenant = await tenantOn(a);
    const known = await addPerson(a, tenant.admin, Role.VIEWER);
    const knownAnswer = await lockedOnB(known.email);
    expect(await lockedOnB(uniqueEmail("ghost"))).toBe(knownAnswer);
    expect(knownAnswer).toBe("resource_exhausted LOGIN_THROTTLED");
  });

  // Last in the file: it locks out the address every other test signs in from.
  it("throttles an address by its failures on both processes together", async () => {
    const answers: string[] = [];
    for (let i = 0; i < 60; i++) {
      const err = await failureOf(signIn(i % 2 ? b : a, uniqueEmail("spray"), uniquePassword()));
      answers.push(err.reason);
    }
    // 50 free failures per address (the test above spent 12): each process alone sees fewer than 50.
    expect(answers.slice(0, 20)).toEqual(Array(20).fill("LOGIN_FAILED"));
    expect(answers.slice(20)).toContain("LOGIN_THROTTLED");
  });
});
