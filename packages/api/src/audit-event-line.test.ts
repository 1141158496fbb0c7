import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalEvent,
  checkpointText,
  createExportVerifier,
  eventHash,
  exportLines,
  GENESIS_HASH,
  parseExport,
  verifySignedChain,
  type AuditDetail,
  type ChainBreak,
  type ChainedEvent,
  type SignedCheckpoint,
} from "./audit-chain.js";
import { createEventLineScanner } from "./audit-event-line.js";

// The streaming verifier reads event lines on their own bytes (audit-event-line.ts) and parses only the lines that
// path cannot vouch for. Whatever an export holds — honest, tampered, in another tool's spelling, split anywhere —
// its verdict must be the one verifySignedChain gives for the same file parsed in full.

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const PUBLIC_KEY = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));

interface Body {
  target: string;
  actor: Record<string, string>;
  detail: AuditDetail;
  userAgent: string;
}

function buildChain(chain: string, bodies: Body[], firstSeq = 1, prev: Uint8Array = GENESIS_HASH): ChainedEvent[] {
  return bodies.map((b, i) => {
    const body = {
      chain,
      seq: firstSeq + i,
      tenantId: chain,
      at: new Date(1_780_000_000_000 + (firstSeq + i) * 1_234_567),
      actor: b.actor,
      requestId: `req-${i}`,
      peer: "127.0.0.1:50000",
      userAgent: b.userAgent,
      action: "credential.read",
      target: b.target,
      outcome: "ok",
      detail: b.detail,
      prevHash: prev,
    };
    const e = { ...body, hash: eventHash(body) };
    prev = e.hash;
    return e;
  });
}

function signed(key: KeyObject, e: ChainedEvent): SignedCheckpoint {
  const at = new Date(1_790_000_000_000 + e.seq);
  const point = { seq: e.seq, hash: e.hash };
  return {
    chain: e.chain,
    ...point,
    at,
    keyId: "k",
    signature: sign(null, Buffer.from(checkpointText(e.chain, point, at)), key),
  };
}

function exportText(events: ChainedEvent[], checkpoints: SignedCheckpoint[], chain = events[0]?.chain ?? "tenant-a"): string {
  const bytes = exportLines({ header: { chain, keyId: "k", publicKey: PUBLIC_KEY }, events, checkpoints });
  return new TextDecoder().decode(bytes);
}

/**
 * The verdict of the file parsed in full, as `audit verify` read it before it streamed (the bytes decoded as UTF-8,
 * then parseExport and verifySignedChain), or the error it throws.
 */
function parsedVerdict(text: string): ChainBreak | undefined | { error: true } {
  try {
    const { header, events, checkpoints } = parseExport(new TextDecoder().decode(new TextEncoder().encode(text)));
    if (!header) return { error: true };
    return verifySignedChain(header.chain, events, checkpoints, PUBLIC_KEY);
  } catch {
    return { error: true };
  }
}

/** The streaming verifier's verdict over the file's bytes cut at `cuts`, or the error it throws. */
function streamedVerdict(text: string, cuts: number[] = []): ChainBreak | undefined | { error: true } {
  try {
    const bytes = new TextEncoder().encode(text);
    const v = createExportVerifier();
    let from = 0;
    for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
      v.write(bytes.subarray(from, cut));
      from = cut;
    }
    v.write(bytes.subarray(from));
    if (!v.header) return { error: true };
    return v.end(PUBLIC_KEY).broken;
  } catch {
    return { error: true };
  }
}

function parseExportOrNothing(text: string) {
  try {
    return parseExport(text);
  } catch {
    return undefined;
  }
}

const asciiBody = fc.record({
  target: fc.string({ maxLength: 20 }),
  actor: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 4 }),
  detail: fc.dictionary(
    fc.string({ minLength: 1, maxLength: 8 }),
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean()),
    { maxKeys: 5 },
  ),
  userAgent: fc.string({ maxLength: 20 }),
});
// Anything a string can hold: escapes, control characters, astral planes, lone surrogates; numbers of every spelling.
const anyString = (max: number) => fc.string({ unit: "binary", maxLength: max });
const anyBody = fc.record({
  target: anyString(20),
  actor: fc.dictionary(anyString(8), anyString(12), { maxKeys: 4 }),
  detail: fc.dictionary(
    anyString(8),
    fc.oneof(anyString(8), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()),
    { maxKeys: 5 },
  ),
  userAgent: anyString(20),
});

describe("the event line scanner", () => {
  it("reads an ASCII event line as exportLines writes it into exactly the canonical bytes", () => {
    const scanner = createEventLineScanner();
    fc.assert(
      fc.property(fc.array(asciiBody, { minLength: 1, maxLength: 5 }), (bodies) => {
        // JSON.stringify escapes a quote and a backslash: such a line is the slow path's.
        fc.pre(!JSON.stringify(bodies).includes("\\"));
        for (const e of buildChain("tenant-a", bodies)) {
          const line = exportLines({ events: [e] });
          const parts = scanner.scan(line, 0, line.length - 1);
          expect(parts).toBeDefined();
          expect(Buffer.from(parts!.bytes.subarray(0, parts!.length)).toString()).toBe(canonicalEvent(e));
          expect(parts!.seq).toBe(e.seq);
        }
      }),
    );
  });

  it("reads actor and detail as PostgreSQL prints a jsonb, a space after each colon and comma", () => {
    const [e] = buildChain("tenant-a", [
      { target: "c", actor: { kind: "token", id: "t1" }, detail: { version: 2, alias: "a", ok: true }, userAgent: "u" },
    ]);
    const line = new TextDecoder()
      .decode(exportLines({ events: [e] }))
      .replace('{"kind":"token","id":"t1"}', '{"id": "t1", "kind": "token"}')
      .replace('{"version":2,"alias":"a","ok":true}', '{"ok": true, "alias": "a", "version": 2}')
      .trimEnd();
    const bytes = new TextEncoder().encode(line);
    const parts = createEventLineScanner().scan(bytes, 0, bytes.length);
    expect(Buffer.from(parts!.bytes.subarray(0, parts!.length)).toString()).toBe(canonicalEvent(e));
  });
});

describe("createExportVerifier", () => {
  it("verifies every honest export, however its bytes are split, with the full parse's verdict", () => {
    fc.assert(
      fc.property(fc.array(anyBody, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 4 }), (bodies, cuts) => {
        const events = buildChain("tenant-a", bodies);
        const text = exportText(events, [signed(privateKey, events[events.length - 1])]);
        expect(parsedVerdict(text)).toBeUndefined();
        expect(streamedVerdict(text, cuts)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("gives the full parse's verdict on every tampered export", () => {
    const edit = fc.record({
      line: fc.nat(),
      at: fc.nat(),
      kind: fc.constantFrom("replace", "insert", "delete-char", "delete-line", "swap-lines", "duplicate-line"),
      char: fc.oneof(fc.constantFrom('"', "\\", " ", ",", ":", "{", "}", "0", "1", "a", "f", "A", "\t", "\r", "é"), anyString(1)),
    });
    fc.assert(
      fc.property(
        fc.array(anyBody, { minLength: 2, maxLength: 8 }),
        fc.array(edit, { minLength: 1, maxLength: 3 }),
        (bodies, edits) => {
          const events = buildChain("tenant-a", bodies);
          const lines = exportText(events, [signed(privateKey, events[1]), signed(privateKey, events[events.length - 1])]).split(
            "\n",
          );
          for (const t of edits) {
            // Not the header: a file with two or none is not an export, and the two readers may refuse it differently.
            const i = 1 + (t.line % (lines.length - 1));
            const l = lines[i];
            const at = t.at % (l.length + 1);
            if (t.kind === "replace") lines[i] = l.slice(0, at) + t.char + l.slice(at + 1);
            else if (t.kind === "insert") lines[i] = l.slice(0, at) + t.char + l.slice(at);
            else if (t.kind === "delete-char") lines[i] = l.slice(0, at) + l.slice(at + 1);
            else if (t.kind === "delete-line") lines.splice(i, 1);
            else if (t.kind === "swap-lines" && i + 1 < lines.length) [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
            else if (t.kind === "duplicate-line") lines.splice(i, 0, l);
          }
          const text = lines.join("\n");
          if (/"type":"header"/.test(lines.slice(1).join("\n"))) return;
          // A checkpoint of no whole seq: verifySignedChain throws looking for its event; the streaming one reports it.
          if (parseExportOrNothing(text)?.checkpoints.some((c) => !Number.isInteger(c.seq))) return;
          expect(streamedVerdict(text)).toEqual(parsedVerdict(text));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("verifies a chain cut by retention from the checkpoint it was cut at, and only from it", () => {
    const all = buildChain(
      "tenant-a",
      Array.from({ length: 6 }, (_, n) => ({ target: `c${n}`, actor: { kind: "token" }, detail: { n }, userAgent: "u" })),
    );
    const cut = signed(privateKey, all[2]);
    const last = signed(privateKey, all[5]);
    expect(streamedVerdict(exportText(all.slice(3), [cut, last]))).toBeUndefined();
    expect(streamedVerdict(exportText(all.slice(3), [last]))).toEqual({
      seq: 4,
      problem: "the chain starts at event 4 and no checkpoint vouches for its start",
    });
    expect(streamedVerdict(exportText(all.slice(4), [cut, last]))).toEqual(parsedVerdict(exportText(all.slice(4), [cut, last])));
  });

  it("refuses a checkpoint another key signed, and a file without a header", () => {
    const events = buildChain("tenant-a", [{ target: "c", actor: {}, detail: {}, userAgent: "u" }]);
    const other = generateKeyPairSync("ed25519").privateKey;
    expect(streamedVerdict(exportText(events, [signed(other, events[0])]))).toEqual({
      seq: 1,
      problem: "a checkpoint's signature does not verify",
    });
    const headless = exportText(events, []).split("\n").slice(1).join("\n");
    expect(streamedVerdict(headless)).toEqual({ error: true });
  });

  it("reads a file with a byte order mark, CRLF line ends and blank lines as the full parse does", () => {
    const events = buildChain("tenant-a", [
      { target: "a", actor: { kind: "token" }, detail: {}, userAgent: "u" },
      { target: "b", actor: { kind: "token" }, detail: {}, userAgent: "u" },
    ]);
    const text =
      "\ufeff" +
      exportText(events, [signed(privateKey, events[1])])
        .split("\n")
        .join("\r\n\n");
    expect(parsedVerdict(text)).toBeUndefined();
    expect(streamedVerdict(text)).toBeUndefined();
  });
});
