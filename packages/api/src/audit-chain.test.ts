import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eventHash, GENESIS_HASH, verifyChain, type ChainedEvent, type ChainPoint } from "./audit-chain.js";

// Tamper evidence, as a property: whatever log is generated and however it
// is tampered with (an edit, with or without recomputing the event's own
// hash; a deletion; a reordering; an event spliced in from another tenant's
// chain; a truncation or a rewritten suffix, given the last checkpoint), the
// verifier finds a broken link. And the untouched log always verifies.

const DAY = 86_400_000;

function buildChain(chain: string, bodies: Array<{ action: string; target: string; n: number }>): ChainedEvent[] {
  const out: ChainedEvent[] = [];
  let prev: ChainPoint = { seq: 0, hash: GENESIS_HASH };
  for (const b of bodies) {
    const body = {
      chain,
      seq: prev.seq + 1,
      tenantId: chain,
      at: new Date(1_780_000_000_000 + prev.seq * DAY),
      actor: { kind: "token", id: `tok-${b.n}`, tokenKind: "runtime" },
      requestId: `req-${prev.seq}`,
      peer: "127.0.0.1",
      userAgent: "property",
      action: b.action,
      target: b.target,
      outcome: "ok",
      detail: { n: b.n },
      prevHash: prev.hash,
    };
    const e = { ...body, hash: eventHash(body) };
    out.push(e);
    prev = { seq: e.seq, hash: e.hash };
  }
  return out;
}

const bodies = fc.array(
  fc.record({
    action: fc.constantFrom("credential.read", "credential.put", "token.create"),
    target: fc.string({ minLength: 1, maxLength: 12 }),
    n: fc.integer({ min: 0, max: 1000 }),
  }),
  { minLength: 2, maxLength: 40 },
);

const lastCheckpoint = (events: ChainedEvent[]): ChainPoint[] => {
  const last = events[events.length - 1];
  return [{ seq: last.seq, hash: last.hash }];
};

type Tamper =
  | { kind: "edit"; at: number; rehash: boolean }
  | { kind: "delete"; at: number }
  | { kind: "swap"; at: number }
  | { kind: "splice"; at: number }
  | { kind: "truncate"; keep: number }
  | { kind: "rewrite-suffix"; from: number };

const tamper = fc.oneof(
  fc.record({ kind: fc.constant("edit" as const), at: fc.nat(), rehash: fc.boolean() }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("splice" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant("rewrite-suffix" as const), from: fc.nat() }),
);

/** Applies one tamper; the attacker may recompute any hash they like, but holds no signing key. */
function apply(events: ChainedEvent[], t: Tamper, other: ChainedEvent[]): ChainedEvent[] {
  const log = events.map((e) => ({ ...e }));
  const i = (n: number, room = 0) => n % (log.length - room);
  switch (t.kind) {
    case "edit": {
      const at = i(t.at);
      const edited = { ...log[at], target: `${log[at].target}!` };
      log[at] = t.rehash ? { ...edited, hash: eventHash(edited) } : edited;
      return log;
    }
    case "delete":
      log.splice(i(t.at), 1);
      return log;
    case "swap": {
      const at = i(t.at, 1);
      [log[at], log[at + 1]] = [log[at + 1], log[at]];
      return log;
    }
    case "splice": {
      // Another tenant's event, at the same place in its chain, in place of ours.
      const at = i(t.at) % other.length;
      log[at] = { ...other[at] };
      return log;
    }
    case "truncate":
      return log.slice(0, i(t.keep, 1) + 1);
    case "rewrite-suffix": {
      // Everything from `from` on replaced by a self-consistent forgery.
      const from = i(t.from);
      const kept = log.slice(0, from);
      let prev: ChainPoint = from === 0 ? { seq: 0, hash: GENESIS_HASH } : { seq: kept[from - 1].seq, hash: kept[from - 1].hash };
      for (const e of log.slice(from)) {
        const body = { ...e, target: `forged-${e.target}`, prevHash: prev.hash };
        const forged = { ...body, hash: eventHash(body) };
        kept.push(forged);
        prev = { seq: forged.seq, hash: forged.hash };
      }
      return kept;
    }
  }
}

describe("verifyChain", () => {
  it("accepts every untouched log, with or without its checkpoint", () => {
    fc.assert(
      fc.property(bodies, (b) => {
        const events = buildChain("tenant-a", b);
        expect(verifyChain("tenant-a", events)).toBeUndefined();
        expect(verifyChain("tenant-a", events, { checkpoints: lastCheckpoint(events) })).toBeUndefined();
      }),
    );
  });

  it("finds every tamper against the last checkpoint", () => {
    fc.assert(
      fc.property(bodies, bodies, tamper, (a, b, t) => {
        const events = buildChain("tenant-a", a);
        const other = buildChain("tenant-b", b);
        const tampered = apply(events, t, other);
        expect(verifyChain("tenant-a", tampered, { checkpoints: lastCheckpoint(events) })).toBeDefined();
      }),
      { numRuns: 500 },
    );
  });

  it("finds edits, reorderings and splices even without a checkpoint", () => {
    fc.assert(
      fc.property(
        bodies,
        bodies,
        // Without a checkpoint the chain's tail is only as good as its head: removing the last
        // event, or rewriting it with a fresh hash, is a truncation or suffix rewrite.
        tamper.filter((t) => t.kind === "swap" || t.kind === "splice" || (t.kind === "edit" && !t.rehash)),
        (a, b, t) => {
          const events = buildChain("tenant-a", a);
          expect(verifyChain("tenant-a", apply(events, t, buildChain("tenant-b", b)))).toBeDefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it("names the first broken link", () => {
    const events = buildChain(
      "tenant-a",
      [1, 2, 3, 4, 5].map((n) => ({ action: "credential.read", target: "c", n })),
    );
    expect(verifyChain("tenant-a", apply(events, { kind: "edit", at: 2, rehash: false }, []))).toEqual({
      seq: 3,
      problem: "its content does not match its hash",
    });
    expect(verifyChain("tenant-a", apply(events, { kind: "delete", at: 1 }, []))).toMatchObject({ seq: 2 });
    expect(verifyChain("tenant-a", events.slice(0, 3), { checkpoints: lastCheckpoint(events) })).toMatchObject({
      seq: 4,
      problem: "a checkpoint vouches for 5 events; the chain ends at 3",
    });
  });

  it("verifies a purged chain from the checkpoint it was cut at", () => {
    const events = buildChain(
      "tenant-a",
      [1, 2, 3, 4, 5, 6].map((n) => ({ action: "credential.read", target: "c", n })),
    );
    const from = { seq: events[2].seq, hash: events[2].hash };
    expect(verifyChain("tenant-a", events.slice(3), { from, checkpoints: lastCheckpoint(events) })).toBeUndefined();
    expect(verifyChain("tenant-a", events.slice(4), { from })).toMatchObject({ seq: 4 });
  });
});
