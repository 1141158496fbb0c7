import { createHash } from "node:crypto";
import type { AuditDetail } from "./schema.js";

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
