import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeBatch, encodeBatches, type ChangeEvent } from "./change-feed.js";

/** PostgreSQL refuses a NOTIFY payload of this many bytes or more. */
const POSTGRES_PAYLOAD_LIMIT = 8000;

const tokenEvents = (n: number): ChangeEvent[] =>
  Array.from({ length: n }, () => ({ type: "token", tenantId: randomUUID(), tokenId: randomUUID() }));

const decodeAll = (payloads: string[]) => payloads.map((p) => decodeBatch(p)!);

describe("change feed: NOTIFY payloads (encodeBatches)", () => {
  it("sends a small batch as one payload that decodes to its publisher and events", () => {
    const events: ChangeEvent[] = [
      { type: "tenant", tenantId: randomUUID() },
      { type: "credential", tenantId: randomUUID(), revision: 7 },
      { type: "reset", connected: true },
    ];
    const payloads = encodeBatches({ o: "process-a" }, events);
    expect(payloads).toHaveLength(1);
    expect(decodeBatch(payloads[0])).toEqual({ o: "process-a", e: events });
  });

  it("sends no payload for a batch of no events", () => {
    expect(encodeBatches({ o: "process-a" }, [])).toEqual([]);
  });

  it("splits a large batch into payloads under PostgreSQL's limit, every event once and in order", () => {
    const events = tokenEvents(2_000);
    const payloads = encodeBatches({ o: "process-a" }, events);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(POSTGRES_PAYLOAD_LIMIT);
    expect(decodeAll(payloads).flatMap((b) => b.e)).toEqual(events);
  });

  it("fills each payload before starting the next: no more payloads than needed", () => {
    const events = tokenEvents(2_000);
    const payloads = encodeBatches({ o: "process-a" }, events);
    const batches = decodeAll(payloads);
    // Every payload but the last would have reached the encoder's own limit (7,800 bytes, a margin below
    // PostgreSQL's) with the next event in it.
    for (let i = 0; i < payloads.length - 1; i++) {
      const withNext = JSON.stringify({ ...batches[i], e: [...batches[i].e, batches[i + 1].e[0]] });
      expect(Buffer.byteLength(withNext)).toBeGreaterThanOrEqual(7_800);
    }
  });

  it("keeps the confirmation header (publisher and batch number) on every payload of a split batch", () => {
    const payloads = encodeBatches({ o: "process-a", c: 42 }, tokenEvents(500));
    expect(payloads.length).toBeGreaterThan(1);
    for (const b of decodeAll(payloads)) expect({ o: b.o, c: b.c }).toEqual({ o: "process-a", c: 42 });
  });
});

describe("change feed: reading a payload (decodeBatch)", () => {
  it("ignores a payload that is not a batch, rather than throwing in the listener", () => {
    for (const payload of ["", "not json", "[]", "null", '{"e":[]}', '{"o":"a","e":{}}']) {
      expect(decodeBatch(payload), payload).toBeUndefined();
    }
  });
});
