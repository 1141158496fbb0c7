import { randomUUID } from "node:crypto";
import type { Logger } from "../log.js";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import { notify as notifyPeers } from "../store/notify.js";
import type { Storage, Subscription } from "../store/open-database.js";
import { heartbeat, leave, livePeers } from "../store/server-instances.js";

/**
 * What changed, by id only: a notification never carries a secret, and a
 * listener always reads the current row back from the database.
 */
export type ChangeEvent =
  | { type: "token"; tenantId: string; tokenId: string }
  | { type: "tenant"; tenantId: string }
  | { type: "project"; tenantId: string; name: string }
  /** A person's session ended. */
  | { type: "session"; tenantId: string; sessionId: string }
  /** A person's account changed (disabled, password changed): all their sessions are rechecked. */
  | { type: "user"; userId: string }
  /** A person's membership in a tenant changed or ended. */
  | { type: "membership"; tenantId: string; userId: string }
  /** A credential change committed at this tenant revision. */
  | { type: "credential"; tenantId: string; revision: number }
  /** Audit events committed in this chain, up to this seq (feed/audit-announcer.ts). */
  | { type: "audit"; chain: string; seq: number }
  /**
   * The feed lost (connected=false) or regained (true) its listen connection:
   * events may have been missed, so drop anything cached, and cache nothing
   * while disconnected.
   */
  | { type: "reset"; connected: boolean };

export type ChangeListener = (event: ChangeEvent) => void;

export const CHANGE_CHANNEL = "engine_changes";
/** Peers confirm confirmed batches here: {o: publisher, c: batch, by: confirming process}. */
export const ACK_CHANNEL = "engine_change_acks";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7800;
const HEARTBEAT_MS = 2_000;
/**
 * NOTIFYs are at least this far apart. Each is a statement and a commit on the
 * database: under a stream of writes, one per write costs the writers ~10 %
 * of their throughput (docs/BENCHMARKS.md). An idle feed sends at once; a
 * busy one gathers what commits meanwhile, so other processes hear of a change
 * at most this much later. This process's own listeners are told at once.
 */
const NOTIFY_INTERVAL_MS = 5;

export interface ChangeFeed {
  /** Announce committed changes: to this process at once, to the others by a batched NOTIFY. */
  publish(...events: ChangeEvent[]): void;
  /**
   * Announce changes that take rights away (revocations, suspensions,
   * removals) and resolve once every live server process has confirmed it
   * applied them, or after `confirmTimeoutMs` (a process that cannot hear the
   * feed caches nothing, so it is safe either way). After this, the change
   * holds on the very next request to any process.
   */
  publishConfirmed(...events: ChangeEvent[]): Promise<void>;
  subscribe(listener: ChangeListener): () => void;
  readonly instanceId: string;
  close(): Promise<void>;
}

interface Batch {
  /** Publishing process. */
  o: string;
  /** When it was sent (ms since the epoch), for the lag metric; absent from servers before it was added. */
  t?: number;
  /** Set when the publisher waits for confirmations. */
  c?: number;
  e: ChangeEvent[];
}

/**
 * The one change feed. Writers publish after their commit; the notification is
 * sent outside the writer's transaction and batched, because NOTIFY inside a
 * transaction takes a database-wide lock at commit and serialises all writers.
 * A notification lost with a crash between commit and send is healed by the
 * readers (revision catch-up, bounded cache lifetimes).
 */
export async function createChangeFeed(
  storage: Storage,
  log: Logger,
  options: {
    confirmTimeoutMs?: number;
    /** Where the feed reports its lag and reconnects; absent (tests of the feed alone): not reported. */
    metrics?: Pick<ServerMetrics, "changeFeedLag" | "changeFeedReconnects" | "changeFeedConnected">;
  } = {},
): Promise<ChangeFeed> {
  const metrics = options.metrics;
  let everConnected = false;
  const origin = randomUUID();
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 2_000;
  const listeners = new Set<ChangeListener>();
  let pending: ChangeEvent[] = [];
  let flushScheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  let lastFlushAt = -Infinity;
  let flushing: Promise<void> = Promise.resolve();
  let nextBatch = 1;
  /** Confirmed batches awaiting peers: batch → peers still to confirm, and the waiter. */
  const awaiting = new Map<number, { peers: Set<string>; done: () => void }>();

  const dispatch = (event: ChangeEvent) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        log.error("change listener failed", { err: String(err) });
      }
    }
  };

  const notify = (channel: string, payload: string) => notifyPeers(storage.db, channel, payload);

  const flush = () => {
    flushScheduled = undefined;
    lastFlushAt = performance.now();
    const batch = pending;
    pending = [];
    flushing = flushing
      .then(async () => {
        for (const payload of encodeBatches({ o: origin, t: Date.now() }, batch)) await notify(CHANGE_CHANNEL, payload);
      })
      .catch((err) => log.error("change notification failed; other servers heal by catch-up", { err: String(err) }));
  };

  const onBatch = (payload: string) => {
    const batch = decodeBatch(payload);
    if (!batch || batch.o === origin) return;
    // Wall clocks of two processes: meaningful on one host or NTP-synced hosts; a skewed clock shows as lag.
    if (metrics && typeof batch.t === "number") metrics.changeFeedLag.observe(Math.max(0, Date.now() - batch.t) / 1000);
    for (const e of batch.e) dispatch(e);
    if (batch.c !== undefined) {
      notify(ACK_CHANNEL, JSON.stringify({ o: batch.o, c: batch.c, by: origin })).catch((err) =>
        log.warn("could not confirm a change", { err: String(err) }),
      );
    }
  };

  const onAck = (payload: string) => {
    let ack: { o?: string; c?: number; by?: string };
    try {
      ack = JSON.parse(payload);
    } catch {
      return;
    }
    if (ack.o !== origin || typeof ack.c !== "number" || typeof ack.by !== "string") return;
    const waiting = awaiting.get(ack.c);
    if (waiting?.peers.delete(ack.by) && waiting.peers.size === 0) waiting.done();
  };

  const subscriptions: Subscription[] = [
    await storage.subscribe(CHANGE_CHANNEL, {
      onPayload: onBatch,
      onConnected(connected) {
        // Both edges: on loss, caches stop trusting; on return, whatever was missed meanwhile is refetched.
        dispatch({ type: "reset", connected });
        metrics?.changeFeedConnected.set(connected ? 1 : 0);
        if (connected && everConnected) metrics?.changeFeedReconnects.inc();
        if (connected) everConnected = true;
        if (connected) log.info("change feed connected");
        else log.warn("change feed disconnected; caches off until it is back");
      },
    }),
    await storage.subscribe(ACK_CHANNEL, { onPayload: onAck, onConnected: () => {} }),
  ];

  // Join the set of live processes only once listening, so a peer that counts us can rely on our confirmation.
  await heartbeat(storage.db, origin);
  const beat = setInterval(() => {
    heartbeat(storage.db, origin).catch((err) => log.warn("server heartbeat failed", { err: String(err) }));
  }, HEARTBEAT_MS);
  beat.unref();

  return {
    instanceId: origin,
    publish(...events) {
      for (const e of events) dispatch(e);
      pending.push(...events);
      if (!flushScheduled) {
        const wait = lastFlushAt + NOTIFY_INTERVAL_MS - performance.now();
        flushScheduled = wait > 0 ? setTimeout(flush, wait) : setImmediate(flush);
      }
    },
    async publishConfirmed(...events) {
      for (const e of events) dispatch(e);
      const c = nextBatch++;
      const peers = new Set(await livePeers(storage.db, origin));
      if (peers.size === 0) return; // alone: no other process holds a cache
      // Revocation batches are a few ids, far below the payload limit: one NOTIFY, one confirmation per peer.
      let timer: NodeJS.Timeout | undefined;
      const confirmed = new Promise<void>((resolve) => {
        awaiting.set(c, { peers, done: resolve });
        timer = setTimeout(() => {
          log.warn("not every server confirmed a revocation in time; it holds there once they hear of it", {
            unconfirmed: [...(awaiting.get(c)?.peers ?? [])],
          });
          resolve();
        }, confirmTimeoutMs);
      });
      try {
        for (const payload of encodeBatches({ o: origin, c }, events)) await notify(CHANGE_CHANNEL, payload);
        await confirmed;
      } finally {
        clearTimeout(timer);
        awaiting.delete(c);
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      clearInterval(beat);
      if (flushScheduled) {
        clearTimeout(flushScheduled as NodeJS.Timeout);
        clearImmediate(flushScheduled as NodeJS.Immediate);
        flush();
      }
      await flushing;
      await leave(storage.db, origin).catch(() => {});
      for (const s of subscriptions) await s.close();
      listeners.clear();
    },
  };
}

/** A batch as NOTIFY payloads, each under PostgreSQL's limit, the events in order; exported for its unit test. */
export function encodeBatches(header: Omit<Batch, "e">, events: ChangeEvent[]): string[] {
  const head = JSON.stringify(header).slice(0, -1) + ',"e":[';
  const out: string[] = [];
  let parts: string[] = [];
  let size = head.length + 2;
  for (const event of events) {
    const part = JSON.stringify(event);
    if (parts.length > 0 && size + part.length + 1 > MAX_PAYLOAD_BYTES) {
      out.push(`${head}${parts.join(",")}]}`);
      parts = [];
      size = head.length + 2;
    }
    parts.push(part);
    size += part.length + 1;
  }
  if (parts.length > 0) out.push(`${head}${parts.join(",")}]}`);
  return out;
}

export function decodeBatch(payload: string): Batch | undefined {
  try {
    const v = JSON.parse(payload);
    return typeof v?.o === "string" && Array.isArray(v.e) ? v : undefined;
  } catch {
    return undefined;
  }
}
