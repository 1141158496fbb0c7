import { create } from "@bufbuild/protobuf";
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AuditEventSchema, AuditService, ErrorReason, type AuditEvent, type AuditFilter } from "@engine-cloud/api";
import { exportLines, PLATFORM_CHAIN, type ChainedEvent } from "@engine-cloud/api/audit-chain.js";
import { permissionDenied } from "../errors/domain-error.js";
import { chainCheckpoints, chainExportPage, listAuditEvents, type AuditQuery } from "../store/audit-log.js";
import type { Executor } from "../store/schema.js";
import { withPlatform, withTenant, type WriteTx } from "../store/with-tenant.js";
import { callerOf, originOf, requestContextKey } from "../tenancy/request-context.js";
import type { ChangeEvent, ChangeFeed } from "../feed/change-feed.js";
import type { ServiceDeps } from "./deps.js";

const DEFAULT_PAGE = 100;
/**
 * How often a watch looks for new events when nothing woke it: the safety net
 * under the change feed's `audit` notifications (feed/audit-announcer.ts), for
 * one lost between processes or while the feed reconnected.
 */
const WATCH_POLL_MS = 5_000;

/**
 * A request's after_seq as a number the database compares exactly: no chain reaches 2^53 events, and a larger
 * int64 would round up past PostgreSQL's bigint range (an INTERNAL error the fuzzer found) instead of meaning
 * "after everything".
 */
const seqOf = (afterSeq: bigint): number =>
  Number(afterSeq > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : afterSeq);
/** Events an export reads per transaction: ~6.5 MB of lines, few enough round trips that the database stays busy. */
const EXPORT_PAGE = 10_000;

/** An event as the API shows it. */
export function auditEventToProto(e: ChainedEvent): AuditEvent {
  const { kind, id, ...fields } = e.actor;
  return create(AuditEventSchema, {
    chain: e.chain,
    seq: BigInt(e.seq),
    time: timestampFromDate(e.at),
    actor: { kind, id: id ?? "", fields },
    requestId: e.requestId,
    peer: e.peer,
    userAgent: e.userAgent,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    detail: e.detail as JsonObject,
    prevHash: e.prevHash,
    hash: e.hash,
  });
}

const queryOf = (f: AuditFilter | undefined): AuditQuery => ({
  since: f?.since ? timestampDate(f.since) : undefined,
  until: f?.until ? timestampDate(f.until) : undefined,
  actor: f?.actor || undefined,
  action: f?.action || undefined,
  target: f?.target || undefined,
  outcome: f?.outcome || undefined,
});

/** Reads the audit log. Every read is an event itself, in the chain it read, committed with the read. */
export function createAuditService(
  deps: Pick<ServiceDeps, "db" | "feed"> & {
    signer: { keyId: string; publicKey: Uint8Array };
    /** How long a watch may stay silent before it says it is still caught up (the sync heartbeat). */
    heartbeatMs: number;
  },
): ServiceImpl<typeof AuditService> {
  const { db } = deps;

  /**
   * Runs `fn` on the chain the caller asked for, recording `action` first:
   * the tenant's chain in a tenant transaction (row-level security confines
   * it), or the platform chain on the owner connection for a platform
   * administrator only.
   */
  const readChain = <T>(
    ctx: HandlerContext,
    platform: boolean,
    audit: { action: string; detail?: Record<string, string | number | boolean> } | undefined,
    fn: (tx: Executor, chain: string) => Promise<T>,
  ): Promise<T> => {
    const run = async (t: WriteTx, chain: string) => {
      if (audit) t.audit.record({ action: audit.action, target: `audit:${chain}`, detail: audit.detail });
      return fn(t.tx, chain);
    };
    if (platform) {
      if (!callerOf(ctx).platformAdmin) {
        throw permissionDenied(ErrorReason.PERMISSION_DENIED, "only platform administrators read the platform chain");
      }
      return withPlatform(db, originOf(ctx), (t) => run(t, PLATFORM_CHAIN));
    }
    const tenant = ctx.values.get(requestContextKey).tenant;
    if (!tenant) throw new Error("audit read reached without a tenant");
    return withTenant(db, { tenantId: tenant.id, ...originOf(ctx) }, (t) => run(t, tenant.id));
  };

  return {
    async listAuditEvents(req, ctx) {
      const size = req.pageSize || DEFAULT_PAGE;
      const after = seqOf(req.afterSeq);
      const events = await readChain(ctx, req.filter?.platform ?? false, { action: "audit.list" }, (tx, chain) =>
        listAuditEvents(tx, chain, queryOf(req.filter), after, size + 1),
      );
      const page = events.slice(0, size);
      return {
        events: page.map(auditEventToProto),
        nextAfterSeq: events.length > size ? BigInt(page[page.length - 1].seq) : 0n,
      };
    },

    async *watchAuditEvents(req, ctx) {
      const platform = req.filter?.platform ?? false;
      const query = queryOf(req.filter);
      let cursor = seqOf(req.afterSeq);
      // Recorded once, at open: an event per read would feed the watch its own reads.
      const chain = await readChain(ctx, platform, { action: "audit.watch", detail: { after_seq: cursor } }, async (_, c) => c);
      // Woken by the chain's commits (LISTEN/NOTIFY between processes), and by the feed's return after a loss.
      const wake = wakeOnFeed(deps.feed, (e) => (e.type === "audit" && e.chain === chain) || (e.type === "reset" && e.connected));
      // A caught-up marker once the backlog is out, then one per heartbeat of silence: a reader (and a fuzzer, and
      // a proxy's idle timer) can tell an open, current stream with nothing to say from a stuck one.
      let markerDue = true;
      let lastSentAt = performance.now();
      try {
        while (!ctx.signal.aborted) {
          wake.arm();
          // A chain's seqs commit in order under its head lock, so "after the last seen" misses nothing.
          const events = await readChain(ctx, platform, undefined, (tx, c) =>
            listAuditEvents(tx, c, query, cursor, DEFAULT_PAGE),
          );
          for (const e of events) {
            yield { event: auditEventToProto(e) };
            cursor = e.seq;
            markerDue = true;
            lastSentAt = performance.now();
          }
          if (events.length < DEFAULT_PAGE) {
            if (markerDue || performance.now() - lastSentAt >= deps.heartbeatMs) {
              yield { caughtUp: true };
              markerDue = false;
              lastSentAt = performance.now();
            }
            await wake.next(Math.min(WATCH_POLL_MS, deps.heartbeatMs), ctx.signal);
          }
        }
      } finally {
        wake.stop();
      }
    },

    async *exportAuditEvents(req, ctx) {
      const head = { keyId: deps.signer.keyId, publicKey: deps.signer.publicKey };
      const page = (after: number, audit?: { action: string }) => {
        const read = readChain(ctx, req.platform, audit, async (tx, chain) => ({
          chain,
          ...(await chainExportPage(tx, chain, after, EXPORT_PAGE)),
        }));
        // Awaited below; until then a failure must not count as unhandled (the reader may be gone first).
        read.catch(() => {});
        return read;
      };
      let next = page(0, { action: "audit.export" });
      let first = true;
      for (;;) {
        const { chain, lines, count, lastSeq } = await next;
        if (first) yield { lines: exportLines({ header: { chain, ...head } }) };
        first = false;
        // The next page is read while this one goes out, so the database and the reader work at once.
        if (count === EXPORT_PAGE) next = page(lastSeq);
        if (count > 0) yield { lines };
        if (count < EXPORT_PAGE) {
          // Only those that vouch for what was exported: this export's own event, and a checkpoint
          // it may have brought about, came after it.
          const checkpoints = await readChain(ctx, req.platform, undefined, (tx, c) => chainCheckpoints(tx, c));
          yield { lines: exportLines({ checkpoints: checkpoints.filter((c) => c.seq <= lastSeq) }) };
          return;
        }
      }
    },

    getAuditPublicKey() {
      return { keyId: deps.signer.keyId, publicKey: deps.signer.publicKey };
    },
  };
}

/**
 * A wake-up from the change feed: `arm()` before a read, then `next()` waits
 * unless a matching event came since (one that arrived during the read is not
 * lost), for at most `ms` or until the signal aborts.
 */
function wakeOnFeed(feed: Pick<ChangeFeed, "subscribe">, matches: (e: ChangeEvent) => boolean) {
  let woken = false;
  let resolveWait: (() => void) | undefined;
  const stop = feed.subscribe((e) => {
    if (!matches(e)) return;
    woken = true;
    resolveWait?.();
  });
  return {
    arm: () => void (woken = false),
    next: (ms: number, signal: AbortSignal) =>
      woken
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              signal.removeEventListener("abort", done);
              resolveWait = undefined;
              resolve();
            };
            const timer = setTimeout(done, ms);
            signal.addEventListener("abort", done, { once: true });
            resolveWait = done;
          }),
    stop,
  };
}
