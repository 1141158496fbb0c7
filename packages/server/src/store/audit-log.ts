import { sql, type Selectable } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import { classifyStorageError } from "../errors/classify-storage-error.js";
import type { Logger } from "../log.js";
import type { Actor } from "./actor.js";
import {
  checkpointText,
  eventHash,
  GENESIS_HASH,
  PLATFORM_CHAIN,
  type ChainedEvent,
  type ChainPoint,
  type SignedCheckpoint,
} from "@engine-cloud/api/audit-chain.js";
import type { AuditEventsTable, Executor, Tx } from "./schema.js";
import type { AuditRecord, AuditWriter, TenantTx, WriteTx } from "./with-tenant.js";

/** When chains get signed checkpoints, and the key that signs them (crypto/audit-signer.ts). */
export interface CheckpointPolicy {
  every: number;
  ms: number;
  signer: { keyId: string; sign(text: string): Uint8Array };
}

/** The actor as an event stores it: the typed Actor's fields, as strings. */
export function actorRecord(actor: Actor): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(actor)) if (v !== undefined) out[k] = String(v);
  return out;
}

const isTenantTx = (t: WriteTx): t is TenantTx => typeof (t as Partial<TenantTx>).tenantId === "string";

/** The chain a record joins: its own tenant, the transaction's tenant, or the platform's. */
const chainOf = (t: WriteTx, r: AuditRecord): string => r.tenantId ?? (isTenantTx(t) ? t.tenantId : PLATFORM_CHAIN);

/** Locks a chain's head row (creating it at the genesis on first use) until the transaction ends. */
async function lockHead(tx: Tx, chain: string): Promise<ChainPoint> {
  const find = () =>
    tx.selectFrom("audit_heads").select(["seq", "hash"]).where("chain", "=", chain).forUpdate().executeTakeFirst();
  const found = await find();
  if (found) return { seq: Number(found.seq), hash: found.hash };
  await tx
    .insertInto("audit_heads")
    .values({ chain, tenant_id: chain === PLATFORM_CHAIN ? null : chain, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column("chain").doNothing())
    .execute();
  const created = await find();
  if (!created) throw new Error(`audit head of chain ${chain} vanished while it was being created`);
  return { seq: Number(created.seq), hash: created.hash };
}

/** An event as its audit_events row. */
export const auditEventRow = (e: ChainedEvent) => ({
  chain: e.chain,
  seq: e.seq,
  tenant_id: e.tenantId,
  at: e.at,
  actor: JSON.stringify(e.actor),
  request_id: e.requestId,
  peer: e.peer,
  user_agent: e.userAgent,
  action: e.action,
  target: e.target,
  outcome: e.outcome,
  detail: JSON.stringify(e.detail),
  prev_hash: e.prevHash,
  hash: e.hash,
});

/**
 * Appends records to one chain: takes its head row lock (one tenant's appends
 * queue here, other tenants' do not), hashes each event onto the previous one
 * and moves the head, all in the caller's transaction.
 */
export async function appendToChain(t: WriteTx, chain: string, records: readonly AuditRecord[]): Promise<ChainedEvent[]> {
  const held = t.audit.lockedHeads.get(chain);
  const head = held ? { seq: held.seq, hash: held.hash } : await lockHead(t.tx, chain);
  const transactionActor = actorRecord(t.actor);
  const at = new Date();
  const events: ChainedEvent[] = [];
  let prev = head;
  for (const r of records) {
    const body = {
      chain,
      seq: prev.seq + 1,
      tenantId: chain === PLATFORM_CHAIN ? null : chain,
      at,
      actor: r.actor ? actorRecord(r.actor) : transactionActor,
      requestId: (r.request ?? t.request)?.requestId ?? "",
      peer: (r.request ?? t.request)?.peer ?? "",
      userAgent: (r.request ?? t.request)?.userAgent ?? "",
      action: r.action,
      target: r.target,
      outcome: r.outcome ?? "ok",
      detail: r.detail ?? {},
      prevHash: prev.hash,
    };
    const event = { ...body, hash: eventHash(body) };
    events.push(event);
    prev = { seq: event.seq, hash: event.hash };
  }
  // The events and the head's move in one statement: the head lock (this chain's appenders queue on it, and a
  // credential write's revision lock is held across it) is held for one round trip less.
  await t.tx
    .with("appended", (db) => db.insertInto("audit_events").values(events.map(auditEventRow)))
    .updateTable("audit_heads")
    .set({ seq: prev.seq, hash: prev.hash })
    .where("chain", "=", chain)
    .execute();
  return events;
}

export const auditUnavailable = () =>
  new DomainError(
    "unavailable",
    ErrorReason.AUDIT_UNAVAILABLE,
    "the audit log could not record this call, so nothing was done; retry with backoff",
  );

/**
 * The audit writer the app registers for its database handle
 * (registerAuditWriter). Fails closed: when an event cannot be written the
 * transaction rolls back and the call fails with AUDIT_UNAVAILABLE (or the
 * database's own reason when the database is down), so no change stands and
 * no secret leaves without its event. The cause goes to the server log only.
 */
export function createAuditWriter(opts: {
  log: Logger;
  checkpoints?: CheckpointPolicy;
  /** Told of each chain's new head once its transaction committed (the audit watch's wake-up). */
  committed?: (chain: string, seq: number) => void;
}): AuditWriter {
  const lastCheckpointAt = new Map<string, number>();
  /**
   * Signs the chain's new head, in the same transaction, when the append
   * crossed a multiple of `every` or the chain's last checkpoint from this
   * process is older than `ms`: a chain that moved is never more than N
   * events or T (plus the next event) from a signed head.
   */
  const maybeCheckpoint = async (t: WriteTx, chain: string, before: number, events: ChainedEvent[]) => {
    const policy = opts.checkpoints;
    if (!policy || events.length === 0) return;
    const head = events[events.length - 1];
    const now = Date.now();
    const crossed = Math.floor(head.seq / policy.every) > Math.floor(before / policy.every);
    const stale = now - (lastCheckpointAt.get(chain) ?? 0) >= policy.ms;
    if (!crossed && !stale) return;
    const at = new Date(now);
    const point = { seq: head.seq, hash: head.hash };
    await t.tx
      .insertInto("audit_checkpoints")
      .values({
        chain,
        seq: head.seq,
        tenant_id: head.tenantId,
        hash: head.hash,
        at,
        key_id: policy.signer.keyId,
        signature: policy.signer.sign(checkpointText(chain, point, at)),
      })
      .execute();
    t.afterCommit(() => void lastCheckpointAt.set(chain, now));
  };
  return async (t, records) => {
    const byChain = new Map<string, AuditRecord[]>();
    for (const r of records) byChain.set(chainOf(t, r), [...(byChain.get(chainOf(t, r)) ?? []), r]);
    try {
      // A platform transaction runs on the owner connection and may write any
      // chain; one that entered a tenant on the way (deleting a tenant,
      // switching a session's tenant) goes back to the owner role for these
      // last statements. A tenant transaction stays confined to its chain.
      if (!isTenantTx(t)) await sql`SET LOCAL ROLE NONE`.execute(t.tx);
      // Sorted, so two transactions touching the same chains take their head locks in one order.
      for (const chain of [...byChain.keys()].sort()) {
        const events = await appendToChain(t, chain, byChain.get(chain)!);
        await maybeCheckpoint(t, chain, events[0].seq - 1, events);
        const head = events[events.length - 1].seq;
        if (opts.committed) t.afterCommit(() => opts.committed!(chain, head));
      }
    } catch (err) {
      const storage = classifyStorageError(err);
      opts.log.error("audit event not written; the call fails", {
        action: records[0].action,
        error: err instanceof Error ? err.message : String(err),
      });
      if (storage) throw storage;
      throw Object.assign(auditUnavailable(), { cause: err });
    }
  };
}

/** A chain's events from `afterSeq` on, in order: for verification, listing and export. */
export async function chainEvents(db: Executor, chain: string, afterSeq: number, limit: number): Promise<ChainedEvent[]> {
  return listAuditEvents(db, chain, {}, afterSeq, limit);
}

function eventOfRow(r: Selectable<AuditEventsTable>): ChainedEvent {
  return {
    chain: r.chain,
    seq: Number(r.seq),
    tenantId: r.tenant_id,
    at: new Date(r.at),
    actor: r.actor,
    requestId: r.request_id,
    peer: r.peer,
    userAgent: r.user_agent,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** A page of a chain's export: its event lines, how many, and the last one's seq. */
export interface ExportPage {
  /** exportLines' event lines, each ending in a newline, as UTF-8. */
  lines: Uint8Array;
  count: number;
  lastSeq: number;
}

/**
 * A chain's events after `afterSeq`, at most `limit`, as export lines written
 * by the database: exportLines' event form (the same keys in the same order,
 * strings JSON-escaped by to_json, the tenant's uuid quoted as it needs no
 * escape, times as toISOString writes them, hashes in lowercase hex; actor and
 * detail as jsonb prints them, which the reader's canonical encoding sorts
 * anyway). An export is a million events; decoding each row's bytea, jsonb
 * and timestamptz into objects and JSON.stringify-ing them back cost more
 * than the database takes to write the line.
 *
 * Keyset pagination on the primary key, as listAuditEvents, so a missing
 * event shows as a gap in the export, never as its end; but asked first as
 * the range of the next `limit` seqs (a chain's seqs have no gap: they commit
 * in order under its head lock), which is the same page when it is full and
 * costs at most a page whatever plan the database picks. Under row-level
 * security and without statistics (a fresh or bulk-loaded chain) PostgreSQL
 * estimates two rows and reads `seq > afterSeq` by bitmap scan and sort: every
 * page would sort the rest of the chain. Only a short page (the last, or one
 * after a gap or a purged start) is asked again without the bound.
 */
export async function chainExportPage(db: Executor, chain: string, afterSeq: number, limit: number): Promise<ExportPage> {
  const next = await exportLinesOf(db, chain, afterSeq, afterSeq + limit, limit);
  return next.count === limit ? next : exportLinesOf(db, chain, afterSeq, undefined, limit);
}

async function exportLinesOf(
  db: Executor,
  chain: string,
  afterSeq: number,
  upTo: number | undefined,
  limit: number,
): Promise<ExportPage> {
  const { rows } = await sql<{ seq: string; line: string }>`
    SELECT seq, concat(
      '{"type":"event","chain":', to_json(chain),
      ',"seq":', seq,
      ',"tenant_id":', coalesce('"' || tenant_id || '"', 'null'),
      ',"at":"', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      '","actor":', actor,
      ',"request_id":', to_json(request_id),
      ',"peer":', to_json(peer),
      ',"user_agent":', to_json(user_agent),
      ',"action":', to_json(action),
      ',"target":', to_json(target),
      ',"outcome":', to_json(outcome),
      ',"detail":', detail,
      ',"prev_hash":"', encode(prev_hash, 'hex'),
      '","hash":"', encode(hash, 'hex'),
      E'"}\\n') AS line
    FROM audit_events
    WHERE chain = ${chain} AND seq > ${afterSeq} ${upTo === undefined ? sql`` : sql`AND seq <= ${upTo}`}
    ORDER BY seq
    LIMIT ${limit}`.execute(db);
  // Written straight into one buffer: a string of the page's concatenated lines is a rope as long as the page,
  // flattened and copied again to encode it.
  let bytes = 0;
  for (const r of rows) bytes += Buffer.byteLength(r.line);
  const lines = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const r of rows) at += lines.write(r.line, at);
  const lastSeq = rows.length > 0 ? Number(rows[rows.length - 1].seq) : afterSeq;
  return { lines, count: rows.length, lastSeq };
}

/** Where a chain stands now (seq 0 at the genesis for a chain with no event yet). */
export async function chainHead(db: Executor, chain: string): Promise<ChainPoint> {
  const row = await db.selectFrom("audit_heads").select(["seq", "hash"]).where("chain", "=", chain).executeTakeFirst();
  return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
}

/** A chain's checkpoints from `afterSeq` on, in order. */
export async function chainCheckpoints(db: Executor, chain: string, afterSeq = 0): Promise<SignedCheckpoint[]> {
  const rows = await db
    .selectFrom("audit_checkpoints")
    .selectAll()
    .where("chain", "=", chain)
    .where("seq", ">", afterSeq)
    .orderBy("seq")
    .execute();
  return rows.map((r) => ({
    chain: r.chain,
    seq: Number(r.seq),
    hash: r.hash,
    at: new Date(r.at),
    keyId: r.key_id,
    signature: r.signature,
  }));
}

/** What a reader asks of a chain (AuditService filters). Empty fields match everything. */
export interface AuditQuery {
  since?: Date;
  until?: Date;
  /** "token:<id>", "user:<id>", "system:<job>" or "bootstrap". */
  actor?: string;
  action?: string;
  target?: string;
  outcome?: string;
}

/** The actor label of a stored actor, as AuditQuery.actor names it (store/actor.ts actorLabel). */
const actorLabelSql = sql<string>`CASE actor->>'kind' WHEN 'system' THEN actor->>'job' WHEN 'bootstrap' THEN 'bootstrap'
  ELSE (actor->>'kind') || ':' || (actor->>'id') END`;

/** A chain's matching events after `afterSeq`, in order, at most `limit`: keyset pagination on the primary key. */
export async function listAuditEvents(
  db: Executor,
  chain: string,
  query: AuditQuery,
  afterSeq: number,
  limit: number,
): Promise<ChainedEvent[]> {
  let q = db.selectFrom("audit_events").selectAll().where("chain", "=", chain).where("seq", ">", afterSeq);
  if (query.since) q = q.where("at", ">=", query.since);
  if (query.until) q = q.where("at", "<", query.until);
  if (query.action) q = q.where("action", "=", query.action);
  if (query.target) q = q.where("target", "=", query.target);
  if (query.outcome) q = q.where("outcome", "=", query.outcome);
  if (query.actor) q = q.where(actorLabelSql, "=", query.actor);
  const rows = await q.orderBy("seq").limit(limit).execute();
  return rows.map(eventOfRow);
}

/**
 * Retention: removes each chain's events up to its newest checkpoint signed
 * before `before`, and keeps that checkpoint, so what remains verifies from
 * it (its signed hash is the first remaining event's previous hash). Events
 * after the last such checkpoint stay, however old: a chain is only ever cut
 * where a signature vouches for the cut. Owner connection; the append-only
 * trigger lets this one transaction delete. Returns the events removed.
 */
export async function purgeAuditEvents(tx: Tx, before: Date): Promise<number> {
  await sql`SELECT set_config('engine.audit_purge', 'on', true)`.execute(tx);
  const result = await sql`
    DELETE FROM audit_events e
    USING (SELECT chain, max(seq) AS seq FROM audit_checkpoints WHERE at < ${before} GROUP BY chain) cut
    WHERE e.chain = cut.chain AND e.seq <= cut.seq`.execute(tx);
  await sql`SELECT set_config('engine.audit_purge', 'off', true)`.execute(tx);
  return Number(result.numAffectedRows ?? 0);
}
