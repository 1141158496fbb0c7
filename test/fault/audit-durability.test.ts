import { randomUUID } from "node:crypto";
import type { CloudClient } from "@engine-cloud/sdk";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDITED_CALLS, AUDITED_CALLS_ENV, auditedCallContext, type Reply } from "../support/audited-calls.js";
import { assertCliBuilt, runCli } from "../support/cli-process.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "../support/loopback-authorization-server.js";
import { startPrivatePostgres, type PrivatePostgres } from "../support/private-postgres.js";
import { startTestServer, type TestServer } from "../support/test-server.js";
import { apiKeyRequest, createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "../support/test-tenant.js";

// Issue 13 §5 on a PostgreSQL cluster of the test's own (never the shared one
// on 5432): the database stopped, every audited RPC and route fails with
// UNAVAILABLE and returns no secret; and kill -9 of every PostgreSQL process
// under audited load (GetCredential and PutCredential through the SDK, eight
// callers): once it is back, every call that was acknowledged has its event,
// the chain verifies (`engine-cloud audit verify`), and a WatchAuditEvents
// reader resuming from its last seq saw every seq once, across the crash.

let cluster: PrivatePostgres;
let server: TestServer;

beforeAll(async () => {
  assertCliBuilt();
  cluster = await startPrivatePostgres();
  const databaseUrl = await cluster.createDatabase("audit_durability");
  server = await startTestServer({
    database: { databaseUrl, dataDir: "", drop: async () => {} },
    env: { ...AUDITED_CALLS_ENV, ENGINE_CLOUD_DB_CONNECT_TIMEOUT_MS: "1000", ENGINE_CLOUD_DB_STATEMENT_TIMEOUT_MS: "3000" },
  });
}, 120_000);
afterAll(async () => {
  await server?.stop().catch(() => undefined);
  await cluster?.destroy();
});

/** Polls until the server answers a database-backed call again after the cluster restarted. */
async function untilServing(client: CloudClient, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await client.credentials.listCredentials({});
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe("the database stopped", () => {
  let auth: LoopbackAuthorizationServer;
  afterAll(() => auth?.close());

  it("fails every audited RPC and route with UNAVAILABLE, returning no secret", async () => {
    auth = await startLoopbackAuthorizationServer({ redirectUris: [`${server.url}/oauth/callback`] });
    const c = await auditedCallContext(server, auth);
    const prepared: Array<[string, () => Promise<Reply>]> = [];
    for (const call of AUDITED_CALLS) prepared.push([call.name, await call.prepare(c)]);
    await cluster.kill9();
    const outcomes: Record<string, string> = {};
    const leaks: string[] = [];
    try {
      for (const [name, run] of prepared) {
        const reply = await run();
        outcomes[name] = reply.ok ? "ok" : reply.code;
        if (c.used.some((s) => reply.text.includes(s))) leaks.push(name);
      }
    } finally {
      await cluster.start();
    }
    expect(outcomes).toEqual(Object.fromEntries(prepared.map(([name]) => [name, "unavailable"])));
    expect(leaks).toEqual([]);
    await untilServing(c.tenant.admin);
  }, 110_000);
});

describe("kill -9 of PostgreSQL under audited load", () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTestTenant(server);
  });

  it("loses no event of an acknowledged call, and the chain verifies", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await putApiKey(tenant.admin, { provider: `d${i}` }, uniqueSecret())).id);
    /** Request ids of acknowledged calls, by the action their event must have. */
    const acked = { "credential.read": [] as string[], "credential.put": [] as string[] };
    let failures = 0;
    let stop = false;

    // The tail: resumes from its last seq whenever the stream breaks; must see each seq once.
    const tailed: number[] = [];
    const tail = (async () => {
      while (!stop) {
        const abort = new AbortController();
        const stopper = setInterval(() => stop && abort.abort(), 100);
        try {
          const after = BigInt(tailed.at(-1) ?? 0);
          for await (const r of tenant.admin.audit.watchAuditEvents({ afterSeq: after }, { signal: abort.signal })) {
            if (r.event) tailed.push(Number(r.event.seq));
          }
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        } finally {
          clearInterval(stopper);
        }
      }
    })();

    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const requestId = randomUUID();
        const headers = { "x-request-id": requestId };
        try {
          if (w % 4 === 0) {
            await tenant.admin.credentials.putCredential(apiKeyRequest({ provider: `d${i % ids.length}` }, uniqueSecret()), {
              headers,
            });
            acked["credential.put"].push(requestId);
          } else {
            await tenant.admin.credentials.getCredential({ id: ids[i % ids.length] }, { headers });
            acked["credential.read"].push(requestId);
          }
        } catch {
          failures++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));

    await new Promise((r) => setTimeout(r, 3000));
    const before = acked["credential.read"].length + acked["credential.put"].length;
    await cluster.kill9();
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.start();
    await untilServing(tenant.admin);
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await Promise.all(workers);
    await tail;

    const db = server.server.app.storage.db;
    const { rows } = await sql<{ request_id: string; action: string }>`
      SELECT request_id, action FROM audit_events WHERE chain = ${tenant.id}`.execute(db);
    const recorded = new Set(rows.map((r) => `${r.action} ${r.request_id}`));
    const missing = Object.entries(acked).flatMap(([action, reqs]) => reqs.filter((id) => !recorded.has(`${action} ${id}`)));
    console.log(
      `audit durability: ${before} acknowledged before the kill, ${acked["credential.read"].length} reads and ` +
        `${acked["credential.put"].length} puts acknowledged in all, ${failures} failed during the outage, ${missing.length} missing`,
    );
    expect(acked["credential.read"].length).toBeGreaterThan(50);
    expect(failures).toBeGreaterThan(0);
    expect(missing).toEqual([]);

    // The tail saw 1..n, each once, n at least every acknowledged call's event.
    expect(tailed).toEqual(Array.from({ length: tailed.length }, (_, i) => i + 1));

    const r = await runCli(["audit", "verify", "--json"], {
      ENGINE_CLOUD_URL: server.url,
      ENGINE_CLOUD_TOKEN: server.adminToken,
      ENGINE_CLOUD_TENANT: tenant.slug,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ chain: tenant.id });
  }, 110_000);
});
