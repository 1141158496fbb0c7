import { ErrorReason, reasonName } from "@engine-cloud/api";
import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyChain, type ChainedEvent } from "@engine-cloud/api/audit-chain.js";
import { chainEvents, chainHead } from "../packages/server/src/store/audit-log.js";
import type { Database } from "../packages/server/src/store/schema.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant, jsonText, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { changeOf, isCaughtUp, recordWatch } from "./support/watch-recorder.js";

// Watch deliveries in the audit log (issue 13 §1): per stream, one sync.deliver
// event at open (its catch-up as one range), one per heartbeat interval in which
// it delivered (the range since its last event) and one at close; never one per
// change per stream. Fail closed: no event at open, no secret sent; a beat that
// cannot be recorded ends the stream. On both Watch paths: the binary fast path
// (transport/sync-fast-path.ts) and, for calls with a deadline, the generic one.

const PROJECT = "audited-sync";
const BEAT_MS = 300;

let server: TestServer;
let db: Kysely<Database>;

beforeAll(async () => {
  server = await startTestServer({ env: { ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(BEAT_MS) } });
  db = server.server.app.storage.db;
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const PATHS = [
  { path: "fast path", options: {} },
  { path: "generic path", options: { timeoutMs: 60_000 } },
] as const;

const deliveriesOf = async (tenantId: string, after = 0): Promise<ChainedEvent[]> =>
  (await chainEvents(db, tenantId, after, 10_000)).filter((e) => e.action === "sync.deliver");

/** Polls the tenant's chain until `done` holds of its sync.deliver events. */
async function deliveriesUntil(tenantId: string, done: (events: ChainedEvent[]) => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await deliveriesOf(tenantId);
    if (done(events)) return events;
    if (Date.now() > deadline)
      throw new Error(`no such deliveries within ${timeoutMs} ms: ${JSON.stringify(events.map((e) => e.detail))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Makes the chain refuse the tenant's sync.deliver events (phase `phase`, or all), as a broken audit table would. */
async function refuseDeliveries(tenantId: string, phase?: string): Promise<() => Promise<void>> {
  const fn = `deliver_break_${tenantId.replaceAll("-", "_")}`;
  const when = phase ? ` AND NEW.detail->>'phase' = '${phase}'` : "";
  await sql
    .raw(
      `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.chain = '${tenantId}' AND NEW.action = 'sync.deliver'${when} THEN
         RAISE EXCEPTION 'audit insert refused by the test'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER ${fn} BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION ${fn}();`,
    )
    .execute(db);
  return async () => void (await sql.raw(`DROP TRIGGER ${fn} ON audit_events; DROP FUNCTION ${fn}();`).execute(db));
}

async function watchedTenant() {
  const tenant: TestTenant = await createTestTenant(server, { allow: [PROJECT] });
  const secret = uniqueSecret();
  await putApiKey(tenant.admin, { project: PROJECT, provider: "first" }, secret);
  const token = await tenant.token({ projects: [PROJECT] });
  return { tenant, secret, token, runtime: clientOf(server, token.secret) };
}

describe.each(PATHS)("Watch deliveries on the $path", ({ options }) => {
  it("records the open, each beat that delivered and the close as ranges of one stream, and the chain verifies", async () => {
    const { tenant, token, runtime } = await watchedTenant();
    const opened = (await chainHead(db, tenant.id)).seq;
    const watch = recordWatch(runtime, { project: PROJECT }, options);
    const caughtUp = await watch.until(isCaughtUp);
    const [open] = await deliveriesUntil(tenant.id, (es) => es.length === 1);
    expect(open.seq).toBeGreaterThan(opened);
    expect(open.target).toBe(`project:${PROJECT}`);
    expect(open.actor).toMatchObject({ kind: "token", id: token.id, tokenKind: "runtime" });
    expect(open.requestId).not.toBe("");
    expect(open.detail).toMatchObject({
      phase: "open",
      from_revision: 0,
      to_revision: Number(caughtUp.revision),
      changes: 1,
      snapshot: true,
    });

    // Three changes inside one beat: one event covers them all.
    let last = 0n;
    for (let i = 0; i < 3; i++)
      last = (await putApiKey(tenant.admin, { project: PROJECT, provider: `p${i}` }, uniqueSecret())).revision;
    await watch.until((e) => e.revision >= last);
    const beats = await deliveriesUntil(tenant.id, (es) => es.some((e) => Number(e.detail.to_revision) >= Number(last)));
    const ranges = beats.slice(1).map((e) => [e.detail.phase, e.detail.from_revision, e.detail.to_revision]);
    expect(ranges.length).toBeLessThanOrEqual(3);
    expect(ranges[0]).toEqual(["beat", Number(caughtUp.revision), expect.any(Number)]);
    // Contiguous: each range starts where the stream's previous one ended.
    for (let i = 1; i < beats.length; i++) expect(beats[i].detail.from_revision).toBe(beats[i - 1].detail.to_revision);
    expect(new Set(beats.map((e) => e.detail.stream)).size).toBe(1);

    await watch.close();
    const all = await deliveriesUntil(tenant.id, (es) => es.some((e) => e.detail.phase === "close"));
    expect(all.at(-1)!.detail).toMatchObject({ phase: "close", stream: open.detail.stream });
    expect(verifyChain(tenant.id, await chainEvents(db, tenant.id, 0, 100_000))).toBeUndefined();
  });

  it("fails a stream whose open cannot be recorded with AUDIT_UNAVAILABLE, having sent no secret", async () => {
    const { tenant, secret, runtime } = await watchedTenant();
    const repair = await refuseDeliveries(tenant.id);
    try {
      const watch = recordWatch(runtime, { project: PROJECT }, options);
      const failure = await watch.ended;
      expect(failure).toMatchObject({ codeName: "unavailable", reason: reasonName(ErrorReason.AUDIT_UNAVAILABLE) });
      expect(watch.events).toEqual([]);
      expect(jsonText(failure)).not.toContain(secret);
    } finally {
      await repair();
    }
    expect(await deliveriesOf(tenant.id)).toEqual([]);
  });

  it("ends a stream with AUDIT_UNAVAILABLE when a beat's range cannot be recorded", async () => {
    const { tenant, runtime } = await watchedTenant();
    const watch = recordWatch(runtime, { project: PROJECT }, options);
    await watch.until(isCaughtUp);
    const repair = await refuseDeliveries(tenant.id, "beat");
    try {
      const c = await putApiKey(tenant.admin, { project: PROJECT, provider: "live" }, uniqueSecret());
      await watch.until(changeOf(c.id));
      const failure = await watch.ended;
      expect(failure).toMatchObject({ codeName: "unavailable", reason: reasonName(ErrorReason.AUDIT_UNAVAILABLE) });
    } finally {
      await repair();
    }
    // What the stream delivered is covered by its open event and the close that recorded the range.
    const events = await deliveriesUntil(tenant.id, (es) => es.some((e) => e.detail.phase === "close"));
    expect(events.map((e) => e.detail.phase)).toEqual(["open", "close"]);
  });
});

describe("Watch deliveries of many streams", () => {
  it("records one open per stream for one shared catch-up, and writes a beat's events in a few transactions", async () => {
    const { tenant, runtime } = await watchedTenant();
    const STREAMS = 40;
    const watches = Array.from({ length: STREAMS }, () => recordWatch(runtime, { project: PROJECT }));
    try {
      await Promise.all(watches.map((w) => w.until(isCaughtUp)));
      const c = await putApiKey(tenant.admin, { project: PROJECT, provider: "fanned" }, uniqueSecret());
      await Promise.all(watches.map((w) => w.until(changeOf(c.id))));
      const events = await deliveriesUntil(tenant.id, (es) => es.filter((e) => e.detail.phase === "beat").length >= STREAMS);
      expect(events.filter((e) => e.detail.phase === "open")).toHaveLength(STREAMS);
      const beats = events.filter((e) => e.detail.phase === "beat");
      expect(new Set(beats.map((e) => e.detail.stream)).size).toBe(STREAMS);
      // Events of one batch are one append: one timestamp. 40 streams' beats fit in a handful.
      expect(new Set(beats.map((e) => e.at.getTime())).size).toBeLessThanOrEqual(4);
    } finally {
      await Promise.all(watches.map((w) => w.close()));
    }
  });
});
