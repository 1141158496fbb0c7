import * as crypto from "node:crypto";
import { createEventLineScanner, type EventLineParts } from "./audit-event-line.js";

/**
 * The audit log's hash chain, shared by the server (which writes and
 * verifies it) and the CLI (which verifies exports offline): one encoding in
 * one place. Exported as "@engine-cloud/api/audit-chain.js", not from the
 * package's index, as it needs node:crypto.
 */

/** An event's typed detail: ids, names, versions, counts; never a secret. */
export type AuditDetail = Record<string, string | number | boolean>;

/** The chain of what is no one tenant's: tenant creation, platform tokens, root key rotation. */
export const PLATFORM_CHAIN = "platform";

/** The previous hash of every chain's first event. */
export const GENESIS_HASH: Uint8Array = new Uint8Array(32);

/** An audit event as the chain hashes it: every column of audit_events. */
export interface ChainedEvent {
  chain: string;
  seq: number;
  tenantId: string | null;
  at: Date;
  actor: Record<string, string>;
  requestId: string;
  peer: string;
  userAgent: string;
  action: string;
  target: string;
  outcome: string;
  detail: AuditDetail;
  prevHash: Uint8Array;
  hash: Uint8Array;
}

const sortedObject = <T>(o: Record<string, T>): Array<[string, T]> =>
  Object.keys(o)
    .sort()
    .map((k) => [k, o[k]]);

/**
 * The bytes an event's hash covers: a JSON array in a fixed field order, the
 * actor's and detail's keys sorted, so the encoding does not depend on how
 * the database (jsonb reorders keys) or an export file handed the event back.
 * The chain and seq are in it, so an event copied into another chain or to
 * another place fails; the previous hash is in it, so removing, reordering or
 * editing any earlier event fails every later one.
 */
export function canonicalEvent(e: Omit<ChainedEvent, "hash">): string {
  return JSON.stringify([
    "engine-cloud-audit-v1",
    e.chain,
    e.seq,
    e.tenantId,
    e.at.toISOString(),
    sortedObject(e.actor),
    e.requestId,
    e.peer,
    e.userAgent,
    e.action,
    e.target,
    e.outcome,
    sortedObject(e.detail),
    Buffer.from(e.prevHash).toString("hex"),
  ]);
}

/** SHA-256 in one call where Node has crypto.hash (20.12+): cheaper than a Hash object per event. */
const sha256: (data: string | Uint8Array) => Uint8Array =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "buffer")
    : (data) => crypto.createHash("sha256").update(data).digest();
/** The same as a string of 32 latin1 characters: for the verifier, a Buffer per event costs more than the hash. */
const sha256Latin1: (data: Uint8Array) => string =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "binary")
    : (data) => crypto.createHash("sha256").update(data).digest("binary");

/** SHA-256 over the canonical encoding. */
export const eventHash = (e: Omit<ChainedEvent, "hash">): Uint8Array => sha256(canonicalEvent(e));

/** A chain head a verifier trusts: from a signed checkpoint, or the genesis. */
export interface ChainPoint {
  seq: number;
  hash: Uint8Array;
}

/** The first broken link a verifier found. */
export interface ChainBreak {
  /** The sequence number where the chain stops being what it claims. */
  seq: number;
  problem: string;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

const HEX_DIGIT = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX_DIGIT["0123456789abcdef".charCodeAt(i)] = i;
/** Whether the 64 characters at `text[at]` are `bytes[from, from + 32)` in lowercase hex, as hex() spells them. */
function hexIs(text: Uint8Array, at: number, bytes: Uint8Array, from: number): boolean {
  if (bytes.length < from + 32) return false;
  for (let i = 0; i < 32; i++) {
    if (((HEX_DIGIT[text[at + 2 * i]] << 4) | HEX_DIGIT[text[at + 2 * i + 1]]) !== bytes[from + i]) return false;
  }
  return true;
}
/** The same against a hash as 32 latin1 characters. */
function hexIsLatin1(text: Uint8Array, at: number, hash: string): boolean {
  for (let i = 0; i < 32; i++) {
    if (((HEX_DIGIT[text[at + 2 * i]] << 4) | HEX_DIGIT[text[at + 2 * i + 1]]) !== hash.charCodeAt(i)) return false;
  }
  return true;
}

/** The order of verifyChain's checks of one event; the first failing one is the break. */
const Check = { Chain: 0, Seq: 1, PrevHash: 2, Hash: 3 } as const;
type Check = (typeof Check)[keyof typeof Check];

/**
 * verifyChain's rules applied one event at a time, so a chain is checked as
 * it is read and only its hashes are kept (32 bytes an event, for the
 * checkpoints that come after the events), never the events. With no `from`,
 * the start is decided by the first event: the genesis for event 1, else the
 * checkpoint just before it (a chain cut by retention), known only once the
 * checkpoints are (they follow the events in an export), so that one link is
 * checked last.
 */
function createChainCheck(chain: string, from: ChainPoint | undefined) {
  const chainToken = new TextEncoder().encode(JSON.stringify(chain));
  let startFrom = from;
  let deferred = false;
  let firstSeq = 0;
  let firstPrev: Uint8Array = GENESIS_HASH;
  let expected = from ? from.seq + 1 : 1;
  let count = 0;
  // Every linked event's hash, 32 bytes each, in order: the checkpoints, which come last, are checked against them.
  let hashes = new Uint8Array(32 * 1024);
  const startHash = from?.hash ?? GENESIS_HASH;
  const previousHash = () => (count === 0 ? startHash : hashes.subarray((count - 1) * 32, count * 32));
  // The first break: a broken link, or what checking an event threw (a field missing from a line), which
  // verifySignedChain throws only once the checks that come before it (the checkpoints' signatures) have passed.
  let broken: { at: ChainBreak | { thrown: unknown }; index: number; check: Check } | undefined;

  const fail = (check: Check, at: ChainBreak) => void (broken = { at, index: count, check });
  /** The first event decides where a chain of unknown start begins. */
  const begin = (seq: number) => {
    if (count > 0 || startFrom || deferred) return;
    firstSeq = seq;
    if (seq > 1) {
      deferred = true;
      expected = seq - 1 + 1;
    } else startFrom = { seq: 0, hash: GENESIS_HASH };
  };
  /** Appends the hash of the event just checked; `latin1` when the fast path has it as a string. */
  const linked = (hash: Uint8Array | string) => {
    if (hashes.length < (count + 1) * 32) {
      const grown = new Uint8Array(hashes.length * 2);
      grown.set(hashes);
      hashes = grown;
    }
    const at = count * 32;
    if (typeof hash === "string") for (let i = 0; i < 32; i++) hashes[at + i] = hash.charCodeAt(i);
    else hashes.set(hash, at);
    expected++;
    count++;
  };
  const hashAt = (seq: number, start: ChainPoint): Uint8Array | undefined => {
    if (seq === start.seq) return start.hash;
    const i = seq - start.seq - 1;
    return Number.isInteger(i) && i >= 0 && i < count ? hashes.subarray(i * 32, i * 32 + 32) : undefined;
  };

  return {
    get broken() {
      return broken !== undefined;
    },
    get count() {
      return count;
    },
    event(e: ChainedEvent): void {
      if (broken) return;
      begin(e.seq);
      let check: Check = Check.Chain;
      try {
        if (e.chain !== chain)
          return fail(check, { seq: expected, problem: `event ${e.chain}#${e.seq} belongs to another chain` });
        check = Check.Seq;
        if (e.seq !== expected) return fail(check, { seq: expected, problem: `expected event ${expected}, found ${e.seq}` });
        check = Check.PrevHash;
        if (deferred && count === 0) firstPrev = e.prevHash;
        else if (!sameBytes(e.prevHash, previousHash())) {
          return fail(check, { seq: e.seq, problem: "its previous hash is not the previous event's hash" });
        }
        check = Check.Hash;
        if (!sameBytes(eventHash(e), e.hash)) return fail(check, { seq: e.seq, problem: "its content does not match its hash" });
      } catch (thrown) {
        broken = { at: { thrown }, index: count, check };
        return;
      }
      linked(e.hash);
    },
    /**
     * An event line the scanner read (audit-event-line.ts), checked on its own bytes: true when it is the next
     * link, false when only the slow path can tell (the first event, which decides the start; a line in another
     * form; anything that does not match), which then reads the line and gives the verdict.
     */
    line(text: Uint8Array, parts: EventLineParts): boolean {
      if (broken || count === 0 || parts.seq !== expected) return false;
      if (parts.chainEnd - parts.chainStart !== chainToken.length) return false;
      for (let i = 0; i < chainToken.length; i++) if (text[parts.chainStart + i] !== chainToken[i]) return false;
      if (!hexIs(text, parts.prevHashAt, hashes, (count - 1) * 32)) return false;
      const hash = sha256Latin1(parts.bytes.subarray(0, parts.length));
      if (!hexIsLatin1(text, parts.hashAt, hash)) return false;
      linked(hash);
      return true;
    },
    /** After the last event: the first break, the start checked against the checkpoints, then the checkpoints. */
    finish(checkpoints: readonly ChainPoint[]): ChainBreak | undefined {
      let start = startFrom ?? { seq: 0, hash: GENESIS_HASH };
      if (deferred) {
        // A chain cut by retention starts after a checkpoint, whose signed hash is where it goes on from.
        const cut = checkpoints.find((c) => c.seq === firstSeq - 1);
        if (!cut)
          return { seq: firstSeq, problem: `the chain starts at event ${firstSeq} and no checkpoint vouches for its start` };
        start = cut;
        const failedEarlier = broken && broken.index === 0 && broken.check < Check.PrevHash;
        if (!failedEarlier && !sameBytes(firstPrev, cut.hash)) {
          return { seq: firstSeq, problem: "its previous hash is not the previous event's hash" };
        }
      }
      if (broken) {
        if ("thrown" in broken.at) throw broken.at.thrown;
        return broken.at;
      }
      const last = expected - 1;
      for (const c of checkpoints) {
        if (c.seq < start.seq) continue;
        if (c.seq > last)
          return { seq: last + 1, problem: `a checkpoint vouches for ${c.seq} events; the chain ends at ${last}` };
        const hash = hashAt(c.seq, start);
        if (!hash || !sameBytes(hash, c.hash)) return { seq: c.seq, problem: "the event differs from the checkpoint" };
      }
      return undefined;
    },
  };
}

/**
 * Checks one chain's events, in the order given, from `from` (a checkpoint the
 * verifier trusts, or the genesis): each event is of this chain, has the next
 * sequence number, names the previous event's hash and hashes to its own.
 * Then each checkpoint must match the event at its sequence number, and none
 * may lie beyond the last event: a chain alone cannot show that its tail was
 * cut off or rewritten whole, a signed checkpoint can. Returns the first
 * break, or undefined for a chain that verifies.
 */
export function verifyChain(
  chain: string,
  events: Iterable<ChainedEvent>,
  options: { from?: ChainPoint; checkpoints?: readonly ChainPoint[] } = {},
): ChainBreak | undefined {
  const check = createChainCheck(chain, options.from ?? { seq: 0, hash: GENESIS_HASH });
  for (const e of events) {
    check.event(e);
    if (check.broken) break;
  }
  return check.finish(options.checkpoints ?? []);
}

/**
 * The text a checkpoint's signature covers (after C2SP tlog-checkpoint: an
 * origin line, the size, the head hash), with the signing time.
 */
export function checkpointText(chain: string, point: ChainPoint, at: Date): string {
  return `engine-cloud audit ${chain}\n${point.seq}\n${Buffer.from(point.hash).toString("base64")}\n${at.toISOString()}\n`;
}

/** A signed chain head: what a checkpoint row or export line holds. */
export interface SignedCheckpoint extends ChainPoint {
  chain: string;
  at: Date;
  keyId: string;
  signature: Uint8Array;
}

/** The first line of an export: the chain and the key its checkpoints are signed with. */
export interface ExportHeader {
  chain: string;
  keyId: string;
  /** Ed25519, SPKI DER. */
  publicKey: Uint8Array;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: unknown) => new Uint8Array(Buffer.from(String(s), "hex"));

/**
 * Lines of an export file (JSON Lines): a header, then every event in
 * sequence order, then the checkpoints. Byte strings are hex, times ISO
 * 8601, so the file is readable and verifiable with nothing but this module.
 * A server's export has its event lines written by the database in the same
 * form (store/audit-log.ts chainExportPage), with actor and detail spaced as
 * jsonb prints them.
 */
export function exportLines(part: {
  header?: ExportHeader;
  events?: readonly ChainedEvent[];
  checkpoints?: readonly SignedCheckpoint[];
}): Uint8Array {
  const lines: string[] = [];
  if (part.header) {
    const { chain, keyId, publicKey } = part.header;
    lines.push(
      JSON.stringify({ type: "header", format: "engine-cloud-audit-v1", chain, key_id: keyId, public_key: hex(publicKey) }),
    );
  }
  for (const e of part.events ?? []) {
    lines.push(
      JSON.stringify({
        type: "event",
        chain: e.chain,
        seq: e.seq,
        tenant_id: e.tenantId,
        at: e.at.toISOString(),
        actor: e.actor,
        request_id: e.requestId,
        peer: e.peer,
        user_agent: e.userAgent,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        detail: e.detail,
        prev_hash: hex(e.prevHash),
        hash: hex(e.hash),
      }),
    );
  }
  for (const c of part.checkpoints ?? []) {
    lines.push(
      JSON.stringify({
        type: "checkpoint",
        chain: c.chain,
        seq: c.seq,
        hash: hex(c.hash),
        at: c.at.toISOString(),
        key_id: c.keyId,
        signature: hex(c.signature),
      }),
    );
  }
  return new TextEncoder().encode(lines.map((l) => `${l}\n`).join(""));
}

/** What an export holds, read back. */
export interface ParsedExport {
  header?: ExportHeader;
  events: ChainedEvent[];
  checkpoints: SignedCheckpoint[];
}

type ExportLine =
  | { type: "header"; header: ExportHeader }
  | { type: "event"; event: ChainedEvent }
  | { type: "checkpoint"; checkpoint: SignedCheckpoint }
  | undefined;

/** One line of an export (undefined for a blank one); throws on a line that is not one of ours. */
function parseExportLine(line: string, n: number): ExportLine {
  if (line.trim() === "") return undefined;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const o = JSON.parse(line) as any;
  if (o.type === "header") return { type: "header", header: { chain: o.chain, keyId: o.key_id, publicKey: unhex(o.public_key) } };
  if (o.type === "event") {
    return {
      type: "event",
      event: {
        chain: o.chain,
        seq: o.seq,
        tenantId: o.tenant_id,
        at: new Date(o.at),
        actor: o.actor,
        requestId: o.request_id,
        peer: o.peer,
        userAgent: o.user_agent,
        action: o.action,
        target: o.target,
        outcome: o.outcome,
        detail: o.detail,
        prevHash: unhex(o.prev_hash),
        hash: unhex(o.hash),
      },
    };
  }
  if (o.type === "checkpoint") {
    return {
      type: "checkpoint",
      checkpoint: {
        chain: o.chain,
        seq: o.seq,
        hash: unhex(o.hash),
        at: new Date(o.at),
        keyId: o.key_id,
        signature: unhex(o.signature),
      },
    };
  }
  throw new Error(`line ${n} is not an audit export line`);
}

/** Reads an export file back; throws on a line that is not one of ours. */
export function parseExport(text: string): ParsedExport {
  const parsed: ParsedExport = { events: [], checkpoints: [] };
  text.split("\n").forEach((line, i) => {
    const l = parseExportLine(line, i + 1);
    if (l?.type === "header") parsed.header = l.header;
    else if (l?.type === "event") parsed.events.push(l.event);
    else if (l?.type === "checkpoint") parsed.checkpoints.push(l.checkpoint);
  });
  return parsed;
}

/** Whether `signature` is the key's Ed25519 signature of the checkpoint. */
export function checkpointSigned(publicKey: Uint8Array | crypto.KeyObject, c: SignedCheckpoint): boolean {
  const key = publicKey instanceof Uint8Array ? checkpointKey(publicKey) : publicKey;
  return crypto.verify(null, Buffer.from(checkpointText(c.chain, c, c.at)), key, c.signature);
}

const checkpointKey = (publicKey: Uint8Array) =>
  crypto.createPublicKey({ key: Buffer.from(publicKey), format: "der", type: "spki" });

/** Each checkpoint's chain and signature, before anything else: an unsigned checkpoint vouches for nothing. */
function checkpointsBreak(
  chain: string,
  checkpoints: readonly SignedCheckpoint[],
  publicKey: Uint8Array,
): ChainBreak | undefined {
  // Decoded once, at the first checkpoint: a thousand of them per million events.
  let key: crypto.KeyObject | undefined;
  for (const c of checkpoints) {
    if (c.chain !== chain) return { seq: c.seq, problem: `a checkpoint of chain ${c.chain} is not this chain's` };
    key ??= checkpointKey(publicKey);
    if (!checkpointSigned(key, c)) return { seq: c.seq, problem: "a checkpoint's signature does not verify" };
  }
  return undefined;
}

/**
 * Verifies a chain and its checkpoints: each checkpoint's signature under
 * `publicKey` (one a reader obtained from GetAuditPublicKey, not only the
 * file's own), then the chain against them, starting from the first
 * event's predecessor when the log was purged (its first event then has to
 * be vouched for by a checkpoint's chain of hashes: see verifyChain's `from`).
 */
export function verifySignedChain(
  chain: string,
  events: readonly ChainedEvent[],
  checkpoints: readonly SignedCheckpoint[],
  publicKey: Uint8Array,
  from?: ChainPoint,
): ChainBreak | undefined {
  const unsigned = checkpointsBreak(chain, checkpoints, publicKey);
  if (unsigned) return unsigned;
  const check = createChainCheck(chain, from);
  for (const e of events) {
    check.event(e);
    if (check.broken) break;
  }
  return check.finish(checkpoints);
}

/** What verifying an export found: its chain, how much it held, and its first broken link if any. */
export interface ExportVerdict {
  header: ExportHeader;
  events: number;
  checkpoints: number;
  lastSeq: number;
  broken?: ChainBreak;
}

/**
 * Verifies an export as its bytes arrive (from a file or the server's
 * ExportAuditEvents), with verifySignedChain's rules and verdicts, in memory
 * that does not grow with the chain beyond 32 bytes an event: lines are split
 * on the bytes, each event is checked as it comes and dropped, and event
 * lines as exportLines writes them are hashed from their own bytes
 * (audit-event-line.ts); any other line is parsed in full. `write` each
 * chunk, then `end` with the key the checkpoints must be signed with (the
 * header, read by then, names the file's own).
 */
export function createExportVerifier() {
  const scanner = createEventLineScanner();
  const lineDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const checkpoints: SignedCheckpoint[] = [];
  let header: ExportHeader | undefined;
  let check: ReturnType<typeof createChainCheck> | undefined;
  let lastSeq = 0;
  let n = 0;
  let rest: Buffer | undefined;
  let first = true;

  const chainCheck = () => {
    if (!check) throw new Error("the export has no header line");
    return check;
  };
  const slowLine = (text: Uint8Array, start: number, end: number) => {
    const l = parseExportLine(lineDecoder.decode(text.subarray(start, end)), n);
    if (l?.type === "header") {
      if (header) throw new Error(`line ${n} is a second header line`);
      header = l.header;
      check = createChainCheck(header.chain, undefined);
    } else if (l?.type === "event") {
      chainCheck().event(l.event);
      lastSeq = l.event.seq;
    } else if (l?.type === "checkpoint") checkpoints.push(l.checkpoint);
  };
  const line = (text: Uint8Array, start: number, end: number) => {
    n++;
    if (first) {
      first = false;
      // What a TextDecoder over the whole stream would drop: a byte order mark before the first line.
      if (end - start >= 3 && text[start] === 0xef && text[start + 1] === 0xbb && text[start + 2] === 0xbf) start += 3;
    }
    const parts = scanner.scan(text, start, end);
    if (parts && check?.line(text, parts)) lastSeq = parts.seq;
    else slowLine(text, start, end);
  };

  return {
    /** The export's header, once its line has been read. */
    get header() {
      return header;
    },
    write(chunk: Uint8Array): void {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      let start = 0;
      if (rest) {
        const nl = bytes.indexOf(0x0a);
        if (nl < 0) {
          rest = Buffer.concat([rest, bytes]);
          return;
        }
        const joined = Buffer.concat([rest, bytes.subarray(0, nl)]);
        rest = undefined;
        line(joined, 0, joined.length);
        start = nl + 1;
      }
      for (let nl = bytes.indexOf(0x0a, start); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
        line(bytes, start, nl);
        start = nl + 1;
      }
      // Copied: the caller may reuse its chunk.
      if (start < bytes.length) rest = Buffer.from(bytes.subarray(start));
    },
    /** After the last chunk: the verdict, the checkpoints checked under `publicKey`. */
    end(publicKey: Uint8Array): ExportVerdict {
      const last = rest ?? Buffer.alloc(0);
      rest = undefined;
      line(last, 0, last.length);
      const verified = chainCheck();
      const broken = checkpointsBreak(header!.chain, checkpoints, publicKey) ?? verified.finish(checkpoints);
      return { header: header!, events: verified.count, checkpoints: checkpoints.length, lastSeq, broken };
    },
  };
}
