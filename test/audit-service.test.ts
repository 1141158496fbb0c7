import { Code } from "@connectrpc/connect";
import { ErrorReason, reasonName, TokenKind } from "@engine-cloud/api";
import {
  canonicalEvent,
  createExportVerifier,
  parseExport,
  verifySignedChain,
  type ChainedEvent,
} from "@engine-cloud/api/audit-chain.js";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLineScanner } from "../packages/api/src/audit-event-line.js";
import { purgeAuditEvents } from "../packages/server/src/store/audit-log.js";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// Reading the audit log through AuditService: a tenant admin lists, tails
// and exports their tenant's chain and nobody else's; the platform chain is
// the platform administrators'; every read is itself an event; an export
// verifies offline against the published key, and a tampered one does not.

let server: TestServer;
let tenant: TestTenant;
/** The server's heartbeat: how long a watch with nothing to send stays silent before it says so again. */
const HEARTBEAT_MS = 1_000;

beforeAll(async () => {
  // A checkpoint every 4 events, so a short run has several.
  server = await startTestServer({
    env: { ENGINE_CLOUD_AUDIT_CHECKPOINT_EVERY: "4", ENGINE_CLOUD_SYNC_HEARTBEAT_MS: String(HEARTBEAT_MS) },
  });
  tenant = await createTestTenant(server);
  for (let i = 0; i < 5; i++) await putApiKey(tenant.admin, { provider: `p${i}` }, uniqueSecret());
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

async function exportOf(client: TestTenant["admin"], platform = false): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const r of client.audit.exportAuditEvents({ platform })) chunks.push(r.lines);
  return Buffer.concat(chunks).toString("utf8");
}

describe("ListAuditEvents", () => {
  it("pages through the tenant's chain in order and filters by action", async () => {
    const first = await tenant.admin.audit.listAuditEvents({ pageSize: 3, filter: { action: "credential.put" } });
    expect(first.events.map((e) => e.action)).toEqual(["credential.put", "credential.put", "credential.put"]);
    const rest = await tenant.admin.audit.listAuditEvents({
      pageSize: 3,
      afterSeq: first.nextAfterSeq,
      filter: { action: "credential.put" },
    });
    expect(rest.events).toHaveLength(2);
    expect(rest.nextAfterSeq).toBe(0n);
    const seqs = [...first.events, ...rest.events].map((e) => e.seq);
    expect([...seqs].sort((a, b) => Number(a - b))).toEqual(seqs);
    expect(new Set([...first.events, ...rest.events].map((e) => e.chain))).toEqual(new Set([tenant.id]));
  });

  it("filters by actor and target", async () => {
    const { events } = await tenant.admin.audit.listAuditEvents({ filter: { action: "credential.put" }, pageSize: 1 });
    const target = events[0].target;
    const byTarget = await tenant.admin.audit.listAuditEvents({ filter: { target } });
    expect(byTarget.events.map((e) => e.target)).toEqual([target]);
    const nobody = await tenant.admin.audit.listAuditEvents({ filter: { actor: "token:00000000-0000-0000-0000-000000000000" } });
    expect(nobody.events).toEqual([]);
  });

  it("records the read itself", async () => {
    await tenant.admin.audit.listAuditEvents({});
    const { events } = await tenant.admin.audit.listAuditEvents({ filter: { action: "audit.list" } });
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events[0].target).toBe(`audit:${tenant.id}`);
  });

  it("shows tenant B none of tenant A's events", async () => {
    const b = await createTestTenant(server);
    const { events } = await b.admin.audit.listAuditEvents({ pageSize: 1000 });
    expect(events.every((e) => e.chain === b.id)).toBe(true);
    expect(events.some((e) => e.target.includes(tenant.id))).toBe(false);
  });

  it("refuses the platform chain to a tenant admin token, and serves it to a platform administrator", async () => {
    const { secret } = await tenant.token({ kind: TokenKind.TENANT_ADMIN });
    const failure = await failureOf(clientOf(server, secret).audit.listAuditEvents({ filter: { platform: true } }));
    expect(failure).toMatchObject({ code: Code.PermissionDenied, reason: reasonName(ErrorReason.PERMISSION_DENIED) });
    const { events } = await server.admin().audit.listAuditEvents({ filter: { platform: true, action: "tenant.create" } });
    expect(events.map((e) => e.target)).toContain(`tenant:${tenant.id}`);
  });
});

describe("WatchAuditEvents", () => {
  it("streams from a cursor with no gap and no duplicate, then new events as they commit", async () => {
    const { events } = await tenant.admin.audit.listAuditEvents({ pageSize: 2 });
    const cursor = events[1].seq;
    const abort = new AbortController();
    const seen: bigint[] = [];
    const watching = (async () => {
      try {
        for await (const r of tenant.admin.audit.watchAuditEvents({ afterSeq: cursor }, { signal: abort.signal })) {
          if (!r.event) continue; // caught-up marker
          seen.push(r.event.seq);
          if (r.event.action === "credential.put" && r.event.detail?.provider === "watched") abort.abort();
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    await putApiKey(tenant.admin, { provider: "watched" }, uniqueSecret());
    await watching;
    expect(seen[0]).toBe(cursor + 1n);
    seen.forEach((s, i) => expect(s).toBe(cursor + 1n + BigInt(i)));
  });
});

describe("WatchAuditEvents, with nothing to send", () => {
  it("says it is caught up at once, with no event, when the filter matches nothing yet, and again after a heartbeat", async () => {
    const abort = new AbortController();
    const markers: number[] = [];
    const started = performance.now();
    try {
      for await (const r of tenant.admin.audit.watchAuditEvents(
        { filter: { action: "no.such.action" } },
        { signal: abort.signal },
      )) {
        expect(r.event).toBeUndefined();
        expect(r.caughtUp).toBe(true);
        markers.push(performance.now() - started);
        if (markers.length === 2) abort.abort();
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
    expect(markers[0]).toBeLessThan(5_000);
    // The second only after a heartbeat of silence (this server's: HEARTBEAT_MS).
    expect(markers[1] - markers[0]).toBeGreaterThanOrEqual(HEARTBEAT_MS * 0.9);
  });
});

describe("a cursor past every event", () => {
  it("lists nothing and watches from the head for the largest int64 after_seq, rather than failing", async () => {
    const afterSeq = 2n ** 63n - 1n;
    expect((await tenant.admin.audit.listAuditEvents({ afterSeq })).events).toEqual([]);
    const abort = new AbortController();
    for await (const r of tenant.admin.audit.watchAuditEvents({ afterSeq }, { signal: abort.signal })) {
      expect(r.caughtUp).toBe(true);
      break;
    }
  });
});

describe("ExportAuditEvents", () => {
  it("exports a chain that verifies offline against the published key, checkpoints included", async () => {
    const text = await exportOf(tenant.admin);
    const { header, events, checkpoints } = parseExport(text);
    const { publicKey, keyId } = await tenant.admin.audit.getAuditPublicKey({});
    expect(header).toMatchObject({ chain: tenant.id, keyId });
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    expect(verifySignedChain(tenant.id, events, checkpoints, publicKey)).toBeUndefined();
  });

  it("writes every event line in the form the streaming verifier reads on its own bytes", async () => {
    const text = await exportOf(tenant.admin);
    const { events, checkpoints } = parseExport(text);
    const scanner = createEventLineScanner();
    const eventLines = text.split("\n").filter((l) => l.startsWith('{"type":"event"'));
    expect(eventLines).toHaveLength(events.length);
    eventLines.forEach((line, i) => {
      const bytes = new TextEncoder().encode(line);
      const parts = scanner.scan(bytes, 0, bytes.length);
      expect(parts, line).toBeDefined();
      expect(new TextDecoder().decode(parts!.bytes.subarray(0, parts!.length))).toBe(canonicalEvent(events[i]));
    });
    const verifier = createExportVerifier();
    verifier.write(new TextEncoder().encode(text));
    const { publicKey } = await tenant.admin.audit.getAuditPublicKey({});
    expect(verifier.end(publicKey)).toMatchObject({
      broken: undefined,
      events: events.length,
      checkpoints: checkpoints.length,
      lastSeq: events[events.length - 1].seq,
    });
  });

  it("exports every event after one removed from the middle, so the gap is what verification reports", async () => {
    const t = await createTestTenant(server);
    for (let i = 0; i < 3; i++) await putApiKey(t.admin, { provider: `gap${i}` }, uniqueSecret());
    // As only the owner could: the append-only trigger lets the retention purge's transaction delete.
    await server.server.app.storage.db.transaction().execute(async (tx) => {
      await sql`SELECT set_config('engine.audit_purge', 'on', true)`.execute(tx);
      await tx.deleteFrom("audit_events").where("chain", "=", t.id).where("seq", "=", 2).execute();
    });
    const { publicKey } = await t.admin.audit.getAuditPublicKey({});
    const { events, checkpoints } = parseExport(await exportOf(t.admin));
    expect(events.map((e) => e.seq)).toEqual([1, 3]);
    expect(verifySignedChain(t.id, events, checkpoints, publicKey)).toEqual({ seq: 2, problem: "expected event 2, found 3" });
  });

  it("fails verification of an edited, a truncated and a re-signed export", async () => {
    const { publicKey } = await tenant.admin.audit.getAuditPublicKey({});
    const { events, checkpoints } = parseExport(await exportOf(tenant.admin));
    const edited: ChainedEvent[] = events.map((e, i) => (i === 2 ? { ...e, target: "credential:someone-else" } : e));
    expect(verifySignedChain(tenant.id, edited, checkpoints, publicKey)).toMatchObject({ seq: 3 });
    const lastCheckpointed = checkpoints[checkpoints.length - 1].seq;
    expect(verifySignedChain(tenant.id, events.slice(0, lastCheckpointed - 1), checkpoints, publicKey)).toBeDefined();
    const forged = checkpoints.map((c) => ({ ...c, signature: new Uint8Array(64) }));
    expect(verifySignedChain(tenant.id, events, forged, publicKey)).toMatchObject({
      problem: "a checkpoint's signature does not verify",
    });
  });
});

describe("retention", () => {
  it("cuts a chain at a checkpoint, and what remains still verifies from it", async () => {
    const t = await createTestTenant(server);
    for (let i = 0; i < 6; i++) await putApiKey(t.admin, { provider: `old${i}` }, uniqueSecret());
    const db = server.server.app.storage.db;
    // Everything signed so far is "older than the retention".
    const removed = await db.transaction().execute((tx) => purgeAuditEvents(tx, new Date(Date.now() + 60_000)));
    expect(removed).toBeGreaterThan(0);
    const { publicKey } = await t.admin.audit.getAuditPublicKey({});
    const { events, checkpoints } = parseExport(await exportOf(t.admin));
    expect(events[0].seq).toBeGreaterThan(1);
    expect(verifySignedChain(t.id, events, checkpoints, publicKey)).toBeUndefined();
    // Without the checkpoint the cut was made at, the start is vouched for by nothing.
    const cut = checkpoints.filter((c) => c.seq !== events[0].seq - 1);
    expect(verifySignedChain(t.id, events, cut, publicKey)).toMatchObject({ problem: expect.stringContaining("no checkpoint") });
  });
});
