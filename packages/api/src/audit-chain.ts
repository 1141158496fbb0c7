import { createHash, createPublicKey, verify as verifySignature } from "node:crypto";

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

/** SHA-256 over the canonical encoding. */
export const eventHash = (e: Omit<ChainedEvent, "hash">): Uint8Array => createHash("sha256").update(canonicalEvent(e)).digest();

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
  const from = options.from ?? { seq: 0, hash: GENESIS_HASH };
  const hashAt = new Map<number, Uint8Array>([[from.seq, from.hash]]);
  let expected = from.seq + 1;
  let prev = from.hash;
  for (const e of events) {
    if (e.chain !== chain) return { seq: expected, problem: `event ${e.chain}#${e.seq} belongs to another chain` };
    if (e.seq !== expected) return { seq: expected, problem: `expected event ${expected}, found ${e.seq}` };
    if (!sameBytes(e.prevHash, prev)) return { seq: e.seq, problem: "its previous hash is not the previous event's hash" };
    if (!sameBytes(eventHash(e), e.hash)) return { seq: e.seq, problem: "its content does not match its hash" };
    hashAt.set(e.seq, e.hash);
    prev = e.hash;
    expected++;
  }
  const last = expected - 1;
  for (const c of options.checkpoints ?? []) {
    if (c.seq < from.seq) continue;
    if (c.seq > last) return { seq: last + 1, problem: `a checkpoint vouches for ${c.seq} events; the chain ends at ${last}` };
    if (!sameBytes(hashAt.get(c.seq)!, c.hash)) return { seq: c.seq, problem: "the event differs from the checkpoint" };
  }
  return undefined;
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

/**
 * Reads an export one line at a time, so a chain too long for one string (a
 * million events is over half a gigabyte of JSON Lines) can be read from a
 * file or a stream as it comes. Throws on a line that is not one of ours.
 */
export function createExportReader(): ParsedExport & { line(text: string): void } {
  const parsed: ParsedExport = { events: [], checkpoints: [] };
  let n = 0;
  return Object.assign(parsed, {
    line(line: string) {
      n++;
      if (line.trim() === "") return;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const o = JSON.parse(line) as any;
      if (o.type === "header") parsed.header = { chain: o.chain, keyId: o.key_id, publicKey: unhex(o.public_key) };
      else if (o.type === "event") {
        parsed.events.push({
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
        });
      } else if (o.type === "checkpoint") {
        parsed.checkpoints.push({
          chain: o.chain,
          seq: o.seq,
          hash: unhex(o.hash),
          at: new Date(o.at),
          keyId: o.key_id,
          signature: unhex(o.signature),
        });
      } else throw new Error(`line ${n} is not an audit export line`);
    },
  });
}

/** Reads an export file back; throws on a line that is not one of ours. */
export function parseExport(text: string): ParsedExport {
  const reader = createExportReader();
  for (const line of text.split("\n")) reader.line(line);
  return { header: reader.header, events: reader.events, checkpoints: reader.checkpoints };
}

/** Whether `signature` is the key's Ed25519 signature of the checkpoint. */
export function checkpointSigned(publicKey: Uint8Array, c: SignedCheckpoint): boolean {
  const key = createPublicKey({ key: Buffer.from(publicKey), format: "der", type: "spki" });
  return verifySignature(null, Buffer.from(checkpointText(c.chain, c, c.at)), key, c.signature);
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
  for (const c of checkpoints) {
    if (c.chain !== chain) return { seq: c.seq, problem: `a checkpoint of chain ${c.chain} is not this chain's` };
    if (!checkpointSigned(publicKey, c)) return { seq: c.seq, problem: "a checkpoint's signature does not verify" };
  }
  // A chain cut by retention starts after a checkpoint, whose signed hash is where it goes on from.
  const start = events[0]?.seq ?? 1;
  if (!from && start > 1) {
    const cut = checkpoints.find((c) => c.seq === start - 1);
    if (!cut) return { seq: start, problem: `the chain starts at event ${start} and no checkpoint vouches for its start` };
    from = cut;
  }
  return verifyChain(chain, events, { from, checkpoints });
}
